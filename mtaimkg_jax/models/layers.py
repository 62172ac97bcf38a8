"""Small shared layers: MLPs and the feature adapters with a missing vector."""

from __future__ import annotations

from typing import Sequence

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
  """Dense layers with ReLU between them (none after the last)."""
  features: Sequence[int]

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for i, size in enumerate(self.features):
      x = nn.Dense(size, name=f'dense_{i}')(x)
      if i + 1 < len(self.features):
        x = nn.relu(x)
    return x


class FeatureAdapter(nn.Module):
  """Unified `k`-dim features of one modality → `dim`-dim representations.

  Shared by every graph (the unification made the inputs comparable); a row
  whose modality is absent gets a learned "missing" vector instead.
  """
  dim: int

  @nn.compact
  def __call__(self, values: jax.Array, present: jax.Array) -> jax.Array:
    chex.assert_rank(values, 2)
    chex.assert_shape(present, values.shape[:1])
    x = MLP((self.dim, self.dim), name='mlp')(values)
    x = nn.LayerNorm(name='layer_norm')(x)
    missing = self.param('missing', nn.initializers.normal(0.1), (self.dim,))
    return jnp.where(present[:, None], x, missing[None, :])
