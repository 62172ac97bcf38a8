"""Task-aware routing: which modality each query should lean on.

A learned embedding per task type (lp, ea, el) plus the query context (the
query relation's representation and the query node's own modality vectors)
give weights over the candidate's modality representations; the weighted
sum is the task-conditioned representation `z(c | q, task)`. The weights are
returned, so they can be plotted and tested, not buried in the model.
"""

from __future__ import annotations

from typing import Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from mtaimkg_jax.models.layers import MLP
from mtaimkg_jax.types import MODALITIES


def routed_names(modalities: Sequence[str]) -> tuple[str, ...]:
  """The candidate representations a model with `modalities` routes over,
  in routing order: structure, each modality, each modality's cross term."""
  return (('structure',) + tuple(modalities) +
          tuple(f'{m}_cross' for m in modalities))


# The representations of the default model (the raw modalities).
ROUTED = routed_names(MODALITIES)


class TaskRouter(nn.Module):
  """Query context → softmax weights over the routed representations
  (`routed_names`), masked where absent."""
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
    chex.assert_equal(available.shape[0], task_embedding.shape[0])
    if self.uniform:
      logits = jnp.zeros(available.shape, jnp.float32)
    else:
      logits = MLP((self.hidden, available.shape[1]), name='mlp')(
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
