"""Gated mixture of experts over `[z; τ_task]` with a load-balancing loss.

`K` expert MLPs run on each (query, candidate) representation; a softmax
gate (or its top-k, renormalised) mixes them. The gate is where noisy
modality evidence can be suppressed per candidate. The balance loss is
`K · Σ_k P_k · f_k` (Switch Transformer) where `P_k` is the mean gate
probability and `f_k` the mean dispatch weight: 1 for a uniform gate, larger
when the gate collapses onto few experts.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp


class MoEOutput(NamedTuple):
  output: jax.Array  # [..., D]
  gates: jax.Array  # [..., K] dispatch weights (sum to 1)
  probabilities: jax.Array  # [..., K] softmax of the gate


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
  """`K Σ_k P_k f_k` over the tokens where `mask` is True."""
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
  """K expert MLPs (D → H → D) mixed by a gate over `[z; τ]`, plus `z`."""
  num_experts: int
  hidden: int
  top_k: int = 0  # 0: dense softmax gate

  @nn.compact
  def __call__(self, z: jax.Array, task_embedding: jax.Array) -> MoEOutput:
    """z: [B, C, D]; task_embedding: [B, T]."""
    chex.assert_rank(z, 3)
    dim = z.shape[-1]
    tau = jnp.broadcast_to(task_embedding[:, None, :],
                           z.shape[:2] + task_embedding.shape[-1:])
    logits = nn.Dense(self.num_experts, name='gate')(
        jnp.concatenate([z, tau], axis=-1))
    probabilities = jax.nn.softmax(logits, axis=-1)
    gates = top_k_gates(probabilities, self.top_k)
    init = nn.initializers.lecun_normal()
    w_in = self.param('w_in', init, (self.num_experts, dim, self.hidden))
    b_in = self.param('b_in', nn.initializers.zeros,
                      (self.num_experts, self.hidden))
    w_out = self.param('w_out', init, (self.num_experts, self.hidden, dim))
    b_out = self.param('b_out', nn.initializers.zeros, (self.num_experts, dim))
    hidden = nn.relu(jnp.einsum('bcd,kdh->bckh', z, w_in) + b_in)
    experts = jnp.einsum('bckh,khd->bckd', hidden, w_out) + b_out
    mixed = jnp.einsum('bck,bckd->bcd', gates, experts)
    return MoEOutput(output=z + mixed, gates=gates,
                     probabilities=probabilities)
