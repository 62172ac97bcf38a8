"""One-to-one matching: EA ranks after Sinkhorn over a whole split.

Each EA query has one counterpart, so a candidate that many queries score
highly is discounted for all of them. The ranking evaluator keeps each
row's candidate scores (`candidate_scores`); `one_to_one_ranks` matches
the split's whole score matrix and ranks every answer again.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np

from mtaimkg_jax import metrics
from mtaimkg_jax.types import EvalBatch

_ranks = jax.jit(metrics.filtered_ranks, static_argnames='ties')
_sinkhorn = jax.jit(metrics.log_sinkhorn, static_argnames='iterations')


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


def matched_ranks(config, scores: np.ndarray,
                  columns: np.ndarray) -> np.ndarray:
  """`one_to_one_ranks` with the config's temperature, iterations, ties."""
  start = time.time()
  ranks = one_to_one_ranks(scores, columns, config.eval.sinkhorn_temperature,
                           config.eval.sinkhorn_iterations, config.eval.ties)
  logging.info('one-to-one matching of %d x %d scores: %.1f s',
               *scores.shape, time.time() - start)
  return ranks


def matches(config, kind) -> bool:
  """Whether datasets of task `kind` are also ranked after one-to-one
  matching (EA: each entity has one counterpart; EL and LP answers are
  shared)."""
  return kind.one_to_one and config.eval.sinkhorn_temperature > 0

