"""Filtered ranking metrics.

`filtered_ranks` is a pure jit-able function of scores; `summarize` turns
the ranks of a whole split into MRR / Hits@k on the host.

Ties: ULTRA counts every exact tie against the answer ("pessimistic"). With
float scores, whether two structurally equal nodes tie *exactly* depends on
summation order (81 of NELL v1's 402 queries tie), so the default here is
the "realistic" rank, the mean of the pessimistic and optimistic ranks
(PyKEEN's convention): the expected rank under random tie-breaking,
independent of float noise. `ties='pessimistic'` gives ULTRA's rule.
"""

from __future__ import annotations

from typing import Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

HITS_AT = (1, 3, 5, 10)


TIES = ('realistic', 'pessimistic', 'optimistic')


def filtered_ranks(scores: jax.Array, answers: jax.Array, exclude: jax.Array,
                   candidates: jax.Array, ties: str = 'realistic'
                   ) -> jax.Array:
  """Rank of each answer among the candidates, known answers filtered out.

  Args:
    scores: [B, N] scores of every node (higher is better).
    answers: [B] gold node per query, or [B, A]: several answers of one
      query, each ranked on its own.
    exclude: [B, N] known true answers (filtered setting); an answer never
      competes with itself, excluded or not.
    candidates: [N] or [B, N] nodes that may be ranked (padding excluded).

    ties: how competitors with exactly the answer's score count: 'realistic'
      (half each), 'pessimistic' (all, ULTRA) or 'optimistic' (none).

  Returns:
    float32 with the shape of `answers`: 1 + competitors scoring higher +
    the tie share. A NaN score never helps the answer: a NaN competitor
    counts as higher, a NaN answer ranks last.
  """
  chex.assert_rank(scores, 2)
  batch, num_nodes = scores.shape
  chex.assert_shape(exclude, (batch, num_nodes))
  answers2d = _as_columns(answers, batch)
  positive = jnp.take_along_axis(scores, answers2d, axis=1)
  competitors = jnp.broadcast_to(candidates, scores.shape) & ~exclude
  ranks = _rank(positive, scores, competitors, jnp.arange(num_nodes),
                answers2d, ties)
  return ranks.reshape(answers.shape)


def filtered_ranks_of_candidates(scores: jax.Array, answers: jax.Array,
                                 exclude: jax.Array, index: jax.Array,
                                 candidates: jax.Array,
                                 ties: str = 'realistic') -> jax.Array:
  """`filtered_ranks` when only some nodes were scored: the answers and the
  nodes `index`.

  Args:
    scores: [B, A + C]: column a < A scores answer a of each query, column
      A + j node `index[j]`.
    answers: [B, A] (or [B], A = 1); exclude, ties: as in `filtered_ranks`.
    index: [C] scored nodes; every candidate node must be among them.
    candidates: [N] nodes that may be ranked (padding entries of `index`
      point at non-candidates and so never count).

  Returns:
    float32 shaped as `answers`, equal to `filtered_ranks` of the full
    score matrix.
  """
  chex.assert_rank([scores, index, candidates], [2, 1, 1])
  batch = scores.shape[0]
  answers2d = _as_columns(answers, batch)
  width = answers2d.shape[1]
  chex.assert_shape(scores, (batch, width + index.shape[0]))
  chex.assert_shape(exclude, (batch, candidates.shape[0]))
  competitors = candidates[index][None, :] & ~exclude[:, index]
  ranks = _rank(scores[:, :width], scores[:, width:], competitors, index,
                answers2d, ties)
  return ranks.reshape(answers.shape)


def _as_columns(answers: jax.Array, batch: int) -> jax.Array:
  chex.assert_rank(answers, {1, 2})
  chex.assert_equal(answers.shape[0], batch)
  return answers.reshape(batch, -1)


def _rank(positive: jax.Array, scores: jax.Array, competitors: jax.Array,
          nodes: jax.Array, answers: jax.Array, ties: str) -> jax.Array:
  """1 + competitors above each answer's score + the tie share.

  positive: [B, A] the answers' scores; scores, competitors: [B, C] of the
  nodes `nodes` [C]; answers: [B, A] (an answer never competes with itself).
  """
  if ties not in TIES:
    raise ValueError(f'ties must be one of {TIES}, got {ties!r}')
  rivals = competitors[:, None, :] & (nodes[None, None, :] !=
                                      answers[:, :, None])
  above = (scores[:, None, :] > positive[:, :, None]) | jnp.isnan(
      scores)[:, None, :]
  higher = jnp.sum(above & rivals, axis=2)
  equal = jnp.sum((scores[:, None, :] == positive[:, :, None]) & rivals,
                  axis=2)
  share = {'realistic': 0.5, 'pessimistic': 1.0, 'optimistic': 0.0}[ties]
  rank = 1.0 + higher + share * equal
  worst = 1.0 + jnp.sum(rivals, axis=2)
  return jnp.where(jnp.isnan(positive), worst, rank).astype(jnp.float32)


def log_sinkhorn(log_scores: jax.Array, iterations: int) -> jax.Array:
  """Alternately normalises rows and columns of exp(`log_scores`) [Q, C] in
  the log domain (Sinkhorn), pushing a query-candidate score matrix towards
  a one-to-one matching: a candidate that many queries score highly is
  discounted for all of them. Each row sums to one; each column to one
  when there are at least as many rows as columns, else to at most one
  (a candidate is matched at most once: with fewer queries than
  candidates, as for a subset of a split, forcing every column to one
  hands each unmatched candidate to its favourite query). -inf entries
  (not allowed) stay -inf; a row or column without finite entries is left
  as it is."""
  chex.assert_rank(log_scores, 2)
  at_most_one = log_scores.shape[0] < log_scores.shape[1]

  def normalise(x, axis, at_most=False):
    total = jax.nn.logsumexp(x, axis=axis, keepdims=True)
    total = jnp.where(jnp.isfinite(total), total, 0.0)
    return x - (jnp.maximum(total, 0.0) if at_most else total)

  def step(_, x):
    return normalise(normalise(x, 1), 0, at_most_one)

  return jax.lax.fori_loop(0, iterations, step, log_scores)


def summarize(ranks: Sequence[int] | np.ndarray,
              hits_at: Sequence[int] = HITS_AT) -> dict[str, float]:
  """MRR, MR and Hits@k of a split's ranks (every query counted once)."""
  ranks = np.asarray(ranks, np.float64)
  if ranks.size == 0:
    raise ValueError('no ranks to summarize')
  out = {'mrr': float(np.mean(1.0 / ranks)), 'mr': float(np.mean(ranks))}
  for k in hits_at:
    out[f'hits@{k}'] = float(np.mean(ranks <= k))
  out['count'] = int(ranks.size)
  return out
