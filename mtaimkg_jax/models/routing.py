"""Task-aware routing: how much each term of the logit counts, per query.

The logit of candidate c for query q is `Σ_k w_k(q) · s_k(q, c)` over the
terms `s_k` of `terms.Terms`: the backbone's structural score, and per
modality m the cosine of q's and c's features (`m`) and of c's features
and the query relation's answer prototype (`m_relation`). Every term is a
similarity that means the same on every graph. The weights are a learned
per-task base (structure 1; for the tasks whose query names its answer,
the names prior on the query terms; 0 elsewhere), what a gated mixture
of experts reads from the query's context, and what each term's own
evidence on the query's graph says of it (data/evidence.py); the last
two start at 0. So every term of the logit is routed, and `shares` says
how much of each query's logits each term makes: routing weights that
are contributions.
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from mtaimkg_jax.models import moe as moe_lib
from mtaimkg_jax.models.terms import Terms
from mtaimkg_jax.types import TASKS


class TermRouter(nn.Module):
  """Query context → the weight of every logit term, per query."""
  terms: Terms
  names_prior_tasks: tuple[int, ...]
  names_prior: float
  num_experts: int
  hidden: int
  top_k: int = 0
  uniform: bool = False  # ablation: the per-task base weights only
  # The router reads each term's evidence on the query's graph; False for
  # checkpoints made before it existed.
  graph_evidence: bool = False

  def _base_init(self, _, shape) -> jax.Array:
    del shape
    return jnp.asarray(self.terms.initial_weights(
        len(TASKS), self.names_prior_tasks, self.names_prior))

  @nn.compact
  def __call__(self, task: jax.Array, task_embedding: jax.Array,
               context: jax.Array, evidence: jax.Array | None = None
               ) -> tuple[jax.Array, moe_lib.MoEOutput | None]:
    """Weights [B, K] of each query's terms, and the mixture (None when
    `uniform`).

    Args:
      task: int [B] task ids.
      task_embedding: [B, T] learned vector of each query's task.
      context: [B, F] the query relation's representation and the query
        node's modality presence.
      evidence: [B, K-1, V] what the query's graph says of each modality
        term (its relation's evidence and the graph's mean,
        data/evidence.py); read with `graph_evidence`.
    """
    chex.assert_rank([task, task_embedding, context], [1, 2, 2])
    num_terms = len(self.terms)
    base = self.param('base', self._base_init, (len(TASKS), num_terms))
    weights = base[task]
    if self.graph_evidence:
      weights = weights + self._from_evidence(task_embedding, evidence)
    if self.uniform:
      return weights, None
    mixture = moe_lib.GatedMoE(self.num_experts, self.hidden, num_terms,
                               self.top_k, name='moe')(
                                   jnp.concatenate([task_embedding, context],
                                                   axis=-1))
    return weights + mixture.output, mixture

  def _from_evidence(self, task_embedding: jax.Array,
                     evidence: jax.Array) -> jax.Array:
    """[B, K] what each modality term's own evidence adds to its weight
    (structure: 0): linear in that term's evidence features, with
    coefficients per task and term kind (query or prototype term) shared
    by every modality, so the map from "how well this term alone ranks
    this graph's facts" to its weight is learned once for all modalities
    and graphs. The coefficients start at zero (the weights are those
    without evidence at initialisation); the output is in units of
    `names_prior`, the scale of a name term's weight."""
    chex.assert_rank(evidence, 3)
    batch, terms, width = evidence.shape
    # Per task, per term kind (query, prototype): coefficients over the
    # term's own evidence features; the weight added is linear in them.
    coefficients = nn.Dense(2 * width, kernel_init=nn.initializers.zeros,
                            name='evidence_out')(task_embedding)
    kind = jnp.repeat(jnp.arange(2), terms // 2)
    per_term = coefficients.reshape(batch, 2, width)[:, kind, :]
    added = jnp.sum(per_term * evidence, axis=-1)
    return jnp.pad(self.names_prior * added, ((0, 0), (1, 0)))


def shares(weighted: jax.Array, mask: jax.Array) -> jax.Array:
  """Each term's share of a query's logits: Σ_c |w_k s_k(q, c)| over the
  valid candidates, normalised over the terms (rows sum to 1; a row
  without any nonzero term puts everything on the first, structure).

  Args:
    weighted: [B, C, K] the weighted terms `w_k s_k`.
    mask: bool [B, C] the candidates that count.
  """
  chex.assert_rank([weighted, mask], [3, 2])
  total = jnp.sum(jnp.abs(weighted) * mask[..., None], axis=1)
  norm = jnp.sum(total, axis=-1, keepdims=True)
  first = jax.nn.one_hot(jnp.zeros(total.shape[:1], jnp.int32),
                         total.shape[-1])
  return jnp.where(norm > 0, total / jnp.maximum(norm, 1e-30), first)
