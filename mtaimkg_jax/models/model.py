"""MtaIMKG: structure (ULTRA backbone) + modalities, routed per task, mixed
by a gated MoE, scored per (query, candidate).

Per candidate c of query q the routed representations are the structural
state `h_struct(c|q)`, the adapted vectors of c for each modality (text,
image, and any derived view such as the names of c's neighbours), and the
cross terms `f_m(q) ⊙ f_m(c)` of the unified features (a learned diagonal
bilinear similarity). The router turns the task embedding and the
query context into weights over them; the MoE refines the mixture; the head
gives a logit, to which two learned per-task priors are added: a multiple
of the backbone's own structural score (so an ULTRA-initialised backbone
starts from ULTRA's ranking where structure matters) and multiples of the
cosine of the query's and the candidate's unified features per modality
(so EA and EL start from the names-alone ranking, the floor the model must
clear, and learn what to add to it).
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from mtaimkg_jax.models import moe as moe_lib
from mtaimkg_jax.models.backbone import Ultra
from mtaimkg_jax.models.layers import MLP, FeatureAdapter
from mtaimkg_jax.models.routing import ROUTED, TaskRouter, mix, routed_names
from mtaimkg_jax.types import (ALL_MODALITIES, MODALITIES, TASKS, GraphArrays,
                               Queries)

# Modalities whose cosine prior for EA and EL starts at this multiple of
# `text_prior`: the names, the neighbours' names, the name trigrams and the
# seed pairs among the neighbours (0.2 and 0.3: the weights
# `benchmarks/probes.py surface-ngrams` and `anchors` chose on training
# queries).
_NAME_PRIORS = {'text': 1.0, 'neighbours': 1.0, 'surface': 0.2,
                'anchors': 0.3}


class ModelOutput(NamedTuple):
  logits: jax.Array  # [B, C] (C = all padded nodes when no candidates given)
  routing: jax.Array  # [B, M] weights over the model's `routed`
  balance_loss: jax.Array  # scalar
  # The additive terms of `logits`, each [B, C], by name: 'head' (the
  # routed MoE head), 'structure' (the gated backbone score) and 'prior'
  # (the gated feature cosines), so calibration and analysis read them.
  terms: dict[str, jax.Array]


class MtaIMKG(nn.Module):
  """The full model; see the module docstring."""
  dim: int = 64
  num_layers: int = 6
  task_dim: int = 16
  router_hidden: int = 64
  num_experts: int = 4
  expert_hidden: int = 128
  top_k: int = 0
  uniform_routing: bool = False
  remat: bool = False
  chunk_size: int = 8192
  text_prior: float = 10.0
  # The backbone's outputs carry no gradient (its parameters get no update,
  # steps.make_optimizer), so the step skips its backward pass.
  freeze_backbone: bool = False
  # Raw modalities and derived views (data/views.py) the model reads.
  modalities: tuple[str, ...] = MODALITIES
  # Ids of the tasks whose queries name their answer (EA, EL): their
  # cosine prior starts at `text_prior` (data/tasks.py `names_prior`).
  name_prior_tasks: tuple[int, ...] = ()

  @property
  def routed(self) -> tuple[str, ...]:
    return routed_names(self.modalities)

  def setup(self):
    self.backbone = Ultra(self.dim, self.num_layers, remat=self.remat)
    self.task_embedding = nn.Embed(len(TASKS), self.task_dim)
    self.adapters = {m: FeatureAdapter(self.dim, name=f'adapter_{m}')
                     for m in self.modalities}
    self.cross_projections = {m: nn.Dense(self.dim, name=f'cross_{m}')
                              for m in self.modalities}
    self.structure_projection = nn.Dense(self.dim)
    self.structure_norm = nn.LayerNorm()
    self.router = TaskRouter(self.router_hidden, self.uniform_routing)
    self.moe = moe_lib.GatedMoE(self.num_experts, self.expert_hidden,
                                self.top_k)
    self.head = MLP((self.dim, 1))
    self.structure_gate = self.param('structure_gate', nn.initializers.ones,
                                     (len(TASKS),))
    self.cosine_gate = self.param('cosine_gate', self._cosine_gate_init,
                                  (len(TASKS), len(self.modalities)))

  def _cosine_gate_init(self, _, shape) -> jax.Array:
    """`text_prior` (times `_NAME_PRIORS`) on the name modalities for the
    tasks that match an entity to itself (`name_prior_tasks`), 0
    elsewhere: the other weights start at no prior."""
    gate = jnp.zeros(shape, jnp.float32)
    for i, modality in enumerate(self.modalities):
      for task in self.name_prior_tasks:
        gate = gate.at[task, i].set(
            self.text_prior * _NAME_PRIORS.get(modality, 0.0))
    return gate

  def __call__(self, graph: GraphArrays, queries: Queries,
               candidates: jax.Array | None = None,
               edge_weight: jax.Array | None = None,
               token_mask: jax.Array | None = None) -> ModelOutput:
    """Logits of `candidates` [B, C], or of every node when None.

    `token_mask` [B, C] marks the (query, candidate) pairs the MoE balance
    loss averages over (training); without it the loss is 0 and candidates
    are scored `chunk_size` at a time (ranking: memory stays bounded).
    """
    nodes, task = queries.nodes, queries.task
    h, query, _ = self.backbone.states(graph, nodes, queries.relations,
                                       edge_weight)
    h = jnp.swapaxes(self._frozen(h), 0, 1)  # [B, N, D]
    query = self._frozen(query)
    entity = graph.entity.nodes
    modalities = self.modalities
    adapted = {m: self.adapters[m](entity[m], entity[f'{m}_present'])
               for m in modalities}
    own = {m: adapted[m][nodes] for m in modalities}
    own_raw = {m: entity[m][nodes] for m in modalities}
    own_present = {m: entity[f'{m}_present'][nodes] for m in modalities}
    tau = self.task_embedding(task)
    has = {m: jnp.broadcast_to(
        graph.modality_available[ALL_MODALITIES.index(m)], nodes.shape)
           for m in modalities}
    available = jnp.stack(
        [jnp.ones(nodes.shape, bool)] + [has[m] for m in modalities] +
        [has[m] & own_present[m] for m in modalities], axis=1)
    context = jnp.concatenate([query] + [own[m] for m in modalities],
                              axis=-1)
    weights = self.router(tau, context, available)
    gate = self.structure_gate[task][:, None]
    cosine_gate = self.cosine_gate[task]
    unit = {m: _unit_rows(entity[m]) for m in modalities}

    def score(index: jax.Array
              ) -> tuple[dict[str, jax.Array], moe_lib.MoEOutput]:
      states = jnp.take_along_axis(h, index[:, :, None], axis=1)
      structural_score = self._frozen(
          self.backbone.score_states(states, query))
      representations = (
          [self.structure_norm(self.structure_projection(states))] +
          [adapted[m][index] for m in modalities] +
          [self._cross(m, own_raw[m], entity[m][index]) for m in modalities])
      chex.assert_equal(len(representations), len(self.routed))
      z = mix(weights, representations)
      mixture = self.moe(z, tau)
      cosines = jnp.stack([
          jnp.einsum('bk,bck->bc', unit[m][nodes], unit[m][index])
          for m in modalities], axis=-1)
      terms = {'head': self.head(mixture.output)[..., 0],
               'structure': gate * structural_score,
               'prior': jnp.einsum('bcm,bm->bc', cosines, cosine_gate)}
      return terms, mixture

    if candidates is None:
      candidates = jnp.broadcast_to(jnp.arange(h.shape[1]),
                                    (nodes.shape[0], h.shape[1]))
    if token_mask is not None:
      terms, mixture = score(candidates)
      balance = moe_lib.balance_loss(mixture.gates, mixture.probabilities,
                                     token_mask)
      return ModelOutput(sum(terms.values()), weights, balance, terms)
    num_candidates = candidates.shape[1]
    chunks = [score(candidates[:, start:start + self.chunk_size])[0]
              for start in range(0, num_candidates, self.chunk_size)]
    terms = {name: jnp.concatenate([chunk[name] for chunk in chunks], axis=1)
             for name in chunks[0]}
    return ModelOutput(sum(terms.values()), weights,
                       jnp.zeros((), jnp.float32), terms)

  def _frozen(self, x: jax.Array) -> jax.Array:
    return jax.lax.stop_gradient(x) if self.freeze_backbone else x

  def _cross(self, modality: str, query: jax.Array,
             candidates: jax.Array) -> jax.Array:
    """A learned weighting of the elementwise product of the unified
    features (a diagonal bilinear similarity; zero when either is absent)."""
    return self.cross_projections[modality](query[:, None, :] * candidates)


def _unit_rows(x: jax.Array) -> jax.Array:
  """Rows scaled to unit length (all-zero rows, absent features, stay 0, so
  their cosine with anything is 0); normalised once per graph, not per
  (query, candidate) pair."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


class StructureOnly(nn.Module):
  """ULTRA alone in the model interface (routing: all on structure)."""
  dim: int = 64
  num_layers: int = 6
  remat: bool = False

  def setup(self):
    self.backbone = Ultra(self.dim, self.num_layers, remat=self.remat)

  def __call__(self, graph: GraphArrays, queries: Queries,
               candidates: jax.Array | None = None,
               edge_weight: jax.Array | None = None,
               token_mask: jax.Array | None = None) -> ModelOutput:
    del token_mask
    logits = self.backbone(graph, queries.nodes, queries.relations,
                           candidates, edge_weight)
    routing = jax.nn.one_hot(jnp.zeros(queries.nodes.shape, jnp.int32),
                             len(ROUTED))
    return ModelOutput(logits, routing, jnp.zeros((), jnp.float32),
                       {'structure': logits})
