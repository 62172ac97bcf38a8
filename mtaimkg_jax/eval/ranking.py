"""The ranking evaluator: filtered ranks of every query of a split.

Queries sharing a node and relation are ranked in one row (one GNN pass);
each answer's rank is kept with its query's id. The ranks so far are
saved under `<workdir>/eval/` every `config.eval.save_every_seconds` and
on SIGTERM, keyed by a fingerprint of the config and the parameters, so a
killed or preempted evaluation resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import Any

import jax
import ml_collections
import numpy as np

from mtaimkg_jax import checkpoint, parallel, summary
from mtaimkg_jax.data import padding
from mtaimkg_jax.data.batches import eval_batches
from mtaimkg_jax.eval import fact_gate
from mtaimkg_jax.eval.matching import candidate_scores
from mtaimkg_jax.experiment import Prepared
from mtaimkg_jax.models.terms import Terms


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


class SavedRanks:
  """The per-batch arrays of one split's evaluation (`ranks`, `query_ids`,
  routing `weights`, and for matching and calibration the candidate
  `scores`, their `prior` term and the answer `columns`), saved to `path`
  every `every` seconds, so a killed evaluation resumes after the last
  saved batch instead of from the start.

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


class SplitRanker:
  """Ranks one split of a prepared graph with the jitted eval step,
  resuming from (and saving to) `workdir/eval/`; a SIGTERM saves the
  ranks so far and exits."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str,
               fns, params: Any, mesh, preemption: checkpoint.Preemption,
               terms: Terms):
    self.config, self.workdir, self.fns = config, workdir, fns
    self.terms = terms
    self.params, self.mesh, self.preemption = params, mesh, preemption
    self.fingerprint = fingerprint(config, params)

  def rank(self, item: Prepared, split: str, keep_scores: bool = False,
           gate: dict | None = None,
           variant: str = '') -> dict[str, np.ndarray]:
    """{'ranks', 'query_ids', 'weights'} of every answer of `split`, plus
    with `keep_scores` each row's candidate 'scores' and answer 'columns'
    (`matching.candidate_scores`) and, where the model's logit has one,
    the 'prior' term of those scores (-inf where they are).
    `gate`: the fact gate's choice (eval/fact_gate.py), whose term
    scales it ranks with; None: as trained. `variant` names a
    ranking of another variant of the graph (its own saved ranks)."""
    config, graph = self.config, item.graph
    chief = jax.process_index() == 0
    saved = SavedRanks(saved_ranks_path(self.workdir, graph.key,
                                        f'{split}.{variant}' if variant
                                        else split),
                       self.fingerprint, config.eval.save_every_seconds,
                       writes=chief)
    index = parallel.replicate(padding.candidate_index(graph), self.mesh)
    side = fact_gate.gated_side(self.fns.graph_side(self.params, item.arrays),
                                self.terms, gate, self.mesh)
    candidates = np.flatnonzero(graph.candidates)
    started, resumed_at = time.time(), saved.ranked
    logging.info('%s/%s: ranking %d queries (%d done); the first batch '
                 'compiles the eval step', graph.key, split,
                 len(graph.queries[split]), resumed_at)
    bar = summary.progress(len(graph.queries[split]), f'{graph.key}/{split}',
                           unit='query', initial=saved.ranked,
                           enabled=chief)
    for batch in eval_batches(graph, split, config.eval.batch_size,
                              item.budget, first_batch=saved.batches):
      device = parallel.device_batch(batch, self.mesh, config.eval.batch_size)
      ranks, routing, scores, terms = parallel.gather(
          self.fns.eval(self.params, item.arrays, device, index, side))
      # Routing weights count once per answer, as the ranks do.
      answered = batch.answer_valid.sum(axis=1)
      rows = {}
      if keep_scores:
        rows['scores'], rows['columns'] = candidate_scores(
            scores[:, :len(candidates)], batch, candidates)
      prior = self.terms.names_prior(terms)
      if keep_scores and prior is not None:
        prior = prior[:, :len(candidates)]
        rows['prior'] = np.where(np.isfinite(rows['scores']),
                                 prior[batch.answer_valid.any(axis=1)],
                                 -np.inf).astype(np.float32)
      saved.add(ranks=ranks[batch.answer_valid],
                query_ids=batch.query_ids[batch.answer_valid],
                weights=np.repeat(routing, answered, axis=0), **rows)
      bar.update(int(answered.sum()))
      if self.preemption.requested:
        saved.save()
        bar.close()
        logging.warning('preempted: saved the ranks of %d queries of %s/%s, '
                        'exiting', saved.ranked, graph.key, split)
        raise SystemExit(143)
    bar.close()
    logging.info('%s/%s: %d queries ranked in %.1f s', graph.key, split,
                 saved.ranked - resumed_at, time.time() - started)
    saved.save()
    return saved.result()
