"""Filtered ranking metrics (ULTRA's convention: ties count against).

`filtered_ranks` is a pure jit-able function of scores; `summarize` turns
the ranks of a whole split into MRR / Hits@k on the host.
"""

from __future__ import annotations

from typing import Sequence

import chex
import jax
import jax.numpy as jnp
import numpy as np

HITS_AT = (1, 3, 5, 10)


def filtered_ranks(scores: jax.Array, answers: jax.Array, exclude: jax.Array,
                   candidates: jax.Array) -> jax.Array:
  """Rank of each answer among the candidates, known answers filtered out.

  Args:
    scores: [B, N] scores of every node (higher is better).
    answers: [B] gold node per query.
    exclude: [B, N] other known true answers (filtered setting).
    candidates: [N] or [B, N] nodes that may be ranked (padding excluded).

  Returns:
    int32 [B]: 1 + the number of competing candidates scoring ≥ the answer.
    A NaN score never helps the answer: a NaN competitor counts as better, a
    NaN answer ranks last.
  """
  chex.assert_rank(scores, 2)
  batch, num_nodes = scores.shape
  chex.assert_shape(answers, (batch,))
  chex.assert_shape(exclude, (batch, num_nodes))
  positive = jnp.take_along_axis(scores, answers[:, None], axis=1)
  competitors = jnp.broadcast_to(candidates, scores.shape) & ~exclude
  competitors &= jnp.arange(num_nodes)[None, :] != answers[:, None]
  beats = (scores >= positive) | jnp.isnan(scores)
  rank = 1 + jnp.sum(beats & competitors, axis=1)
  worst = 1 + jnp.sum(competitors, axis=1)
  return jnp.where(jnp.isnan(positive[:, 0]), worst, rank).astype(jnp.int32)


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
