"""Gated mixture of experts over a query's context, with a balance loss.

`K` expert MLPs read each query's context `[c; τ_task]` (the query
relation's representation, the query node's modality presence, the task
embedding); a softmax gate (or its top-k, renormalised) mixes their
outputs. The experts' last layers start at zero, so at initialisation the
mixture adds nothing. The balance loss is `K · Σ_k P_k · f_k` (Switch
Transformer) where `P_k` is the mean gate probability and `f_k` the mean
dispatch weight over valid queries: 1 for a uniform gate, larger when the
gate collapses onto few experts. The work is per query, never per
candidate.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp


class MoEOutput(NamedTuple):
  output: jax.Array  # [B, O]
  gates: jax.Array  # [B, K] dispatch weights (sum to 1)
  probabilities: jax.Array  # [B, K] softmax of the gate


def top_k_gates(probabilities: jax.Array, top_k: int) -> jax.Array:
  """Keeps the `top_k` largest probabilities per row, renormalised."""
  num_experts = probabilities.shape[-1]
  if top_k <= 0 or top_k >= num_experts:
    return probabilities
  threshold = jax.lax.top_k(probabilities, top_k)[0][..., -1:]
  kept = jnp.where(probabilities >= threshold, probabilities, 0.0)
  return kept / jnp.sum(kept, axis=-1, keepdims=True)


def balance_loss(gates: jax.Array, probabilities: jax.Array,
                 mask: jax.Array) -> jax.Array:
  """`K Σ_k P_k f_k` over the rows where `mask` is True."""
  chex.assert_equal_shape([gates, probabilities])
  num_experts = gates.shape[-1]
  weight = mask.astype(jnp.float32)[..., None]
  total = jnp.maximum(jnp.sum(weight), 1.0)
  mean_probability = jnp.sum(probabilities * weight,
                             axis=tuple(range(gates.ndim - 1))) / total
  mean_dispatch = jnp.sum(gates * weight,
                          axis=tuple(range(gates.ndim - 1))) / total
  return num_experts * jnp.sum(mean_probability * mean_dispatch)


class GatedMoE(nn.Module):
  """K expert MLPs (F → H → O, the last layer zero-initialised) mixed by
  a gate over the same input."""
  num_experts: int
  hidden: int
  outputs: int
  top_k: int = 0  # 0: dense softmax gate

  @nn.compact
  def __call__(self, context: jax.Array) -> MoEOutput:
    """context: [B, F] → outputs [B, O]."""
    chex.assert_rank(context, 2)
    logits = nn.Dense(self.num_experts, name='gate')(context)
    probabilities = jax.nn.softmax(logits, axis=-1)
    gates = top_k_gates(probabilities, self.top_k)
    width = context.shape[-1]
    w_in = self.param('w_in', nn.initializers.lecun_normal(),
                      (self.num_experts, width, self.hidden))
    b_in = self.param('b_in', nn.initializers.zeros,
                      (self.num_experts, self.hidden))
    w_out = self.param('w_out', nn.initializers.zeros,
                       (self.num_experts, self.hidden, self.outputs))
    b_out = self.param('b_out', nn.initializers.zeros,
                       (self.num_experts, self.outputs))
    hidden = nn.relu(jnp.einsum('bf,kfh->bkh', context, w_in) + b_in)
    experts = jnp.einsum('bkh,kho->bko', hidden, w_out) + b_out
    return MoEOutput(output=jnp.einsum('bk,bko->bo', gates, experts),
                     gates=gates, probabilities=probabilities)
