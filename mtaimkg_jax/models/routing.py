"""Task-aware routing: which modality each query should lean on.

A learned embedding per task type (lp, ea, el) plus the query context (the
query relation's representation and the query node's own modality vectors)
give weights over the candidate's modality representations; the weighted
sum is the task-conditioned representation `z(c | q, task)`. The weights are
returned, so they can be plotted and tested, not buried in the model.
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from mtaimkg_jax.models.layers import MLP

# Modality representations of a candidate, in routing order.
ROUTED = ('structure', 'text', 'image', 'text_cross', 'image_cross')


class TaskRouter(nn.Module):
  """Query context → softmax weights over `ROUTED` (masked where absent)."""
  hidden: int
  uniform: bool = False  # ablation: no routing, equal weights

  @nn.compact
  def __call__(self, task_embedding: jax.Array, context: jax.Array,
               available: jax.Array) -> jax.Array:
    """Returns weights [B, M] summing to 1 over available modalities.

    Args:
      task_embedding: [B, T] learned vector of each query's task.
      context: [B, C] query relation representation and query features.
      available: bool [B, M]: modality m exists for this query.
    """
    chex.assert_rank([task_embedding, context, available], 2)
    chex.assert_shape(available, (task_embedding.shape[0], len(ROUTED)))
    if self.uniform:
      logits = jnp.zeros(available.shape, jnp.float32)
    else:
      logits = MLP((self.hidden, len(ROUTED)), name='mlp')(
          jnp.concatenate([task_embedding, context], axis=-1))
    logits = jnp.where(available, logits, -jnp.inf)
    return jax.nn.softmax(logits, axis=-1)


def mix(weights: jax.Array, representations: list[jax.Array]) -> jax.Array:
  """Σ_m weights[b, m] · representations[m][b, ...] without stacking them."""
  chex.assert_equal(weights.shape[1], len(representations))
  out = 0.0
  for m, rep in enumerate(representations):
    w = weights[:, m].reshape((-1,) + (1,) * (rep.ndim - 1))
    out = out + w * rep
  return out
