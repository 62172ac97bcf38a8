"""Evaluation loop: query batches → ranks → metrics, for any scorer.

A scorer maps an `EvalBatch` to ranks [B, A] of each row's answers (the
model does this inside one jitted step; host-side baselines go through
`host_scorer`). Padding rows and answers are dropped here, so every real
query counts exactly once. EA can also be ranked after one-to-one matching
of the whole split's candidate scores (`candidate_scores`,
`one_to_one_ranks`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from typing import Any, Callable

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mtaimkg_jax import metrics
from mtaimkg_jax.data.batches import EvalBatch, eval_batches
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.data.padding import Budget, GraphArrays

RankFn = Callable[[EvalBatch], np.ndarray]

_ranks = jax.jit(metrics.filtered_ranks, static_argnames='ties')
_sinkhorn = jax.jit(metrics.log_sinkhorn, static_argnames='iterations')

# results.json key suffix of the ranks after one-to-one matching (EA).
ONE_TO_ONE = ':sinkhorn'


def host_scorer(score: Callable[[EvalBatch], np.ndarray],
                arrays: GraphArrays, ties: str = 'realistic') -> RankFn:
  """Wraps a host-side score function [B, N_pad] into a rank function."""
  candidates = np.asarray(arrays.entity.nodes['candidate'] &
                          arrays.entity.nodes['real'])

  def rank(batch: EvalBatch) -> np.ndarray:
    return np.asarray(_ranks(score(batch), batch.answers, batch.exclude,
                             candidates, ties=ties))

  return rank


class Progress:
  """Logs how far ranking a split has come, at most every `every` seconds,
  and the total time at the end (a full test set can take an hour)."""

  def __init__(self, graph: QueryGraph, split: str, every: float = 60.0,
               done: int = 0, total: int | None = None):
    """`total`: the queries to rank when not all of `split`'s."""
    self.name = f'{graph.key}/{split}'
    self.total = len(graph.queries[split]) if total is None else total
    self.every = every
    self.done = self.resumed_at = done
    self.started = self.last = time.time()

  def update(self, queries: int) -> None:
    self.done += queries
    now = time.time()
    if now - self.last >= self.every and self.done < self.total:
      self.last = now
      rate = (self.done - self.resumed_at) / (now - self.started)
      logging.info('%s: %d/%d queries ranked (%.1f/s, ETA %.1f min)',
                   self.name, self.done, self.total, rate,
                   (self.total - self.done) / rate / 60)

  def finish(self) -> None:
    logging.info('%s: %d queries ranked in %.1fs', self.name,
                 self.done - self.resumed_at, time.time() - self.started)


def saved_ranks_path(workdir: str, dataset: str, split: str) -> str:
  """Where the evaluation of `dataset`'s `split` keeps its `SavedRanks`."""
  return os.path.join(workdir, 'eval', f'{dataset.replace("/", "_")}.'
                      f'{split}.npz')


def fingerprint(config: ml_collections.ConfigDict, params: Any) -> str:
  """What a saved evaluation is of: the config and the exact parameters."""
  digest = hashlib.sha256(config.to_json_best_effort(sort_keys=True).encode())
  for leaf in jax.tree_util.tree_leaves(params):
    value = np.asarray(leaf.addressable_data(0) if isinstance(leaf, jax.Array)
                       else leaf)
    digest.update(f'{value.dtype}{value.shape}'.encode())
    digest.update(np.ascontiguousarray(value).tobytes())
  return digest.hexdigest()


def candidate_scores(scores: np.ndarray, batch: EvalBatch,
                     candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """The rows of `batch` that have answers, as one-to-one matching needs
  them.

  Args:
    scores: [B, C] scores of the evaluation candidates.
    batch: the rows scored.
    candidates: [C] sorted node ids of those candidates.

  Returns:
    float32 [R, C]: the scores, -inf where a node may not compete (a known
    answer filtered out, the row's own answers excepted), and int32 [R, A]
    each answer's column (-1 where the row has no answer a).
  """
  rows = batch.answer_valid.any(axis=1)
  answers = batch.answers.reshape(len(rows), -1)[rows]
  valid = batch.answer_valid.reshape(len(rows), -1)[rows]
  columns = np.searchsorted(candidates, answers).clip(0, len(candidates) - 1)
  if np.any(valid & (candidates[columns] != answers)):
    raise ValueError('an answer is not an evaluation candidate: one-to-one '
                     'matching ranks among the candidates only')
  allowed = ~batch.exclude[rows][:, candidates]
  row, answer = np.nonzero(valid)
  allowed[row, columns[row, answer]] = True
  return (np.where(allowed, scores[rows], -np.inf).astype(np.float32),
          np.where(valid, columns, -1).astype(np.int32))


def keeping_candidate_scores(
    score: Callable[[EvalBatch], np.ndarray], candidates: np.ndarray,
    rows: list[tuple[np.ndarray, np.ndarray]]
) -> Callable[[EvalBatch], np.ndarray]:
  """A host score function [B, N] that also appends each batch's
  `candidate_scores` to `rows`, so ranking and matching share one pass."""

  def keeping(batch: EvalBatch) -> np.ndarray:
    scores = score(batch)
    rows.append(candidate_scores(scores[:, candidates], batch, candidates))
    return scores

  return keeping


def one_to_one_ranks(scores: np.ndarray, columns: np.ndarray,
                     temperature: float, iterations: int,
                     ties: str = 'realistic', chunk: int = 256) -> np.ndarray:
  """Ranks of every answer after Sinkhorn matching of a whole split.

  `scores` [R, C] and `columns` [R, A] are `candidate_scores` of all rows;
  ranks come in row-major answer order, as the plain ranks do. A row's
  other answers never compete with it (filtered setting).
  """
  chex.assert_rank([scores, columns], 2)
  matched = np.asarray(_sinkhorn(jnp.asarray(scores / temperature),
                                 iterations=iterations))
  return matrix_ranks(matched, columns, ties, chunk,
                      excluded=~np.isfinite(scores))


def matrix_ranks(scores: np.ndarray, columns: np.ndarray,
                 ties: str = 'realistic', chunk: int = 256,
                 excluded: np.ndarray | None = None) -> np.ndarray:
  """Ranks of every answer of a whole split's [R, C] score matrix, as
  `candidate_scores` keeps it: entries that are -inf (or `excluded`) never
  compete; ranks come in row-major answer order, as the plain ranks do."""
  chex.assert_rank([scores, columns], 2)
  exclude = (~np.isfinite(scores) if excluded is None else excluded).copy()
  valid = columns >= 0
  row, answer = np.nonzero(valid)
  exclude[row, columns[row, answer]] = True
  pad = -len(scores) % chunk
  scores, exclude = (np.pad(x, ((0, pad), (0, 0))) for x in (scores, exclude))
  answers = np.pad(columns.clip(0), ((0, pad), (0, 0)))
  everyone = np.ones((scores.shape[1],), bool)
  out = [np.asarray(_ranks(scores[i:i + chunk], answers[i:i + chunk],
                           exclude[i:i + chunk], everyone, ties=ties))
         for i in range(0, len(scores), chunk)]
  return np.concatenate(out)[:len(valid)][valid]


class SavedRanks:
  """The per-batch arrays of one split's evaluation (`ranks`, routing
  `weights`, and for one-to-one matching the candidate `scores` and answer
  `columns`), saved to `path` every `every` seconds, so a killed evaluation
  resumes after the last saved batch instead of from the start.

  A file made for another fingerprint (other parameters or config) is
  ignored and overwritten. With `writes=False` (every process but the
  first of a multi-host run) it reads the file but never writes it.
  """

  def __init__(self, path: str, fingerprint_: str, every: float,
               writes: bool = True):
    self.path, self.fingerprint, self.every = path, fingerprint_, every
    self.writes = writes
    self.parts: dict[str, list[np.ndarray]] = {}
    self.batches = 0
    self.last_save = time.time()
    if os.path.exists(path):
      with np.load(path) as saved:
        if str(saved['fingerprint']) == fingerprint_:
          self.batches = int(saved['batches'])
          self.parts = {name: [saved[name]] for name in saved.files
                        if name not in ('fingerprint', 'batches')}
          logging.info('%s: resuming after batch %d (%d queries ranked)',
                       path, self.batches, self.ranked)

  def add(self, **arrays: np.ndarray) -> None:
    """One batch's arrays; every batch passes the same names."""
    for name, value in arrays.items():
      self.parts.setdefault(name, []).append(value)
    self.batches += 1
    if time.time() - self.last_save >= self.every:
      self.save()

  @property
  def ranked(self) -> int:
    """How many answers have ranks so far (saved or added)."""
    return sum(len(r) for r in self.parts.get('ranks', []))

  def result(self) -> dict[str, np.ndarray]:
    return {name: np.concatenate(parts) for name, parts in self.parts.items()}

  def save(self) -> None:
    if not self.parts or not self.writes:
      return
    arrays = self.result()
    self.parts = {name: [value] for name, value in arrays.items()}
    os.makedirs(os.path.dirname(self.path) or '.', exist_ok=True)
    tmp = f'{self.path}.tmp'
    with open(tmp, 'wb') as f:
      np.savez(f, fingerprint=self.fingerprint, batches=self.batches,
               **arrays)
    os.replace(tmp, self.path)
    self.last_save = time.time()


def evaluate_split(graph: QueryGraph, split: str, budget: Budget,
                   batch_size: int, rank: RankFn,
                   shard: tuple[int, int] = (0, 1)) -> np.ndarray:
  """Ranks of all of this process's queries of `split`, in query order."""
  out = []
  progress = Progress(graph, split)
  for batch in eval_batches(graph, split, batch_size, budget, shard):
    out.append(np.asarray(rank(batch))[batch.answer_valid])
    progress.update(len(out[-1]))
  progress.finish()
  return np.concatenate(out) if out else np.zeros((0,), np.int32)


def write_results(path: str, results: dict[str, dict[str, float]]) -> None:
  """Writes `results.json` atomically, keys sorted."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    json.dump(results, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)
