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
    answers: [B] gold node per query.
    exclude: [B, N] other known true answers (filtered setting).
    candidates: [N] or [B, N] nodes that may be ranked (padding excluded).

    ties: how competitors with exactly the answer's score count: 'realistic'
      (half each), 'pessimistic' (all, ULTRA) or 'optimistic' (none).

  Returns:
    float32 [B]: 1 + competitors scoring higher + the tie share. A NaN score
    never helps the answer: a NaN competitor counts as higher, a NaN answer
    ranks last.
  """
  chex.assert_rank(scores, 2)
  batch, num_nodes = scores.shape
  chex.assert_shape(answers, (batch,))
  chex.assert_shape(exclude, (batch, num_nodes))
  positive = jnp.take_along_axis(scores, answers[:, None], axis=1)[:, 0]
  competitors = jnp.broadcast_to(candidates, scores.shape) & ~exclude
  competitors &= jnp.arange(num_nodes)[None, :] != answers[:, None]
  return _rank(positive, scores, competitors, ties)


def filtered_ranks_of_candidates(scores: jax.Array, answers: jax.Array,
                                 exclude: jax.Array, index: jax.Array,
                                 candidates: jax.Array,
                                 ties: str = 'realistic') -> jax.Array:
  """`filtered_ranks` when only some nodes were scored: the answers and the
  nodes `index`.

  Args:
    scores: [B, 1 + C]: column 0 scores each query's answer, column 1 + j
      node `index[j]`.
    answers, exclude, ties: as in `filtered_ranks`.
    index: [C] scored nodes; every candidate node must be among them.
    candidates: [N] nodes that may be ranked (padding entries of `index`
      point at non-candidates and so never count).

  Returns:
    float32 [B], equal to `filtered_ranks` of the full score matrix.
  """
  chex.assert_rank([scores, index, candidates], [2, 1, 1])
  batch = scores.shape[0]
  chex.assert_shape(scores, (batch, index.shape[0] + 1))
  chex.assert_shape(answers, (batch,))
  chex.assert_shape(exclude, (batch, candidates.shape[0]))
  competitors = candidates[index][None, :] & ~exclude[:, index]
  competitors &= index[None, :] != answers[:, None]
  return _rank(scores[:, 0], scores[:, 1:], competitors, ties)


def _rank(positive: jax.Array, scores: jax.Array, competitors: jax.Array,
          ties: str) -> jax.Array:
  """1 + competitors above the answer's score `positive` [B] + tie share."""
  if ties not in TIES:
    raise ValueError(f'ties must be one of {TIES}, got {ties!r}')
  higher = jnp.sum(((scores > positive[:, None]) | jnp.isnan(scores)) &
                   competitors, axis=1)
  equal = jnp.sum((scores == positive[:, None]) & competitors, axis=1)
  share = {'realistic': 0.5, 'pessimistic': 1.0, 'optimistic': 0.0}[ties]
  rank = 1.0 + higher + share * equal
  worst = 1.0 + jnp.sum(competitors, axis=1)
  return jnp.where(jnp.isnan(positive), worst, rank).astype(jnp.float32)


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
