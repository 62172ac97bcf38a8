"""MtaIMKG: ULTRA's structure with the modalities inside message passing
and in a routed, per-term logit.

Everything the modalities contribute is a similarity that means the same
on every graph, never an axis of a graph's own feature space:

- **In message passing**: each edge `(u ← v, r)` gets, per modality, the
  cosine of u's and v's features and of v's features and relation r's
  answer prototype (the mean of the features of r's neighbours), with the
  presence of both; a small MLP turns them into one gate per layer that
  scales the edge's message by `2 σ(z)`. The last layer starts at zero, so
  an ULTRA-initialised model ranks exactly as ULTRA at step 0, and
  training can only add to it.
- **In the logit**: `Σ_k w_k(q) s_k(q, c)` over the terms of
  `terms.Terms`: the backbone's score, and per modality the
  query–candidate cosine and the candidate–prototype cosine. The weights
  are routed per query (`routing.TermRouter`: a per-task base plus a
  gated mixture of experts on the query's context), so every term is
  routed and `routing.shares` reads each term's contribution.
- **Centred where every query shares one relation** (EA, EL, with
  `model.num_references`): the learned terms (structure,
  candidate–prototype cosines) then hold a score each candidate gets
  whatever the query; with one answer per candidate (EA) it can only
  rank hubs first, and an edgeless EL mention's learned terms are
  nothing else (a prior over the candidates that no mention informs).
  Those terms are taken relative to the same terms of a few fixed
  reference queries (training seeds asked without their own `same_as`
  edge, or training mentions), computed once per graph by
  `graph_side(centre=True)`. Ranking only: trained through, the loss
  learns the fixed references' own scores and ranks whatever they score
  low first.

Two entry points: `__call__` scores given candidates in one pass
(training), `rank` scores every candidate in fixed-size chunks against a
precomputed `graph_side` (ranking).

The candidate side is a gather of states and unit features; the per-pair
work is one structure MLP and a few dot products, so training can see as
many candidates as ranking does. `without` ablates at evaluation without
changing a parameter: 'modalities' (the backbone alone: no gates, the
structure term only), one of the two paths ('edge_gates': every gate 1;
'modality_terms': the structure term only, gates kept), or any
modality's name.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from mtaimkg_jax.data import evidence as evidence_lib
from mtaimkg_jax.models import moe as moe_lib
from mtaimkg_jax.models.backbone import Ultra
from mtaimkg_jax.models.routing import TermRouter, shares
from mtaimkg_jax.models.terms import Terms
from mtaimkg_jax.types import (ALL_MODALITIES, MODALITIES, TASKS,
                               WITHOUT_EDGE_GATES, WITHOUT_MODALITIES,
                               WITHOUT_MODALITY_TERMS, GraphArrays, Queries)


class ModelOutput(NamedTuple):
  logits: jax.Array  # [B, C] (C = all padded nodes when no candidates given)
  routing: jax.Array  # [B, K] each term's share of the query's logits
  balance_loss: jax.Array  # scalar
  # The additive terms of `logits`, each [B, C], by name (`Terms.names`),
  # so calibration and analysis read them instead of re-deriving them.
  terms: dict[str, jax.Array]


def unit_rows(x: jax.Array) -> jax.Array:
  """Rows scaled to unit length (all-zero rows, absent features, stay 0, so
  their cosine with anything is 0)."""
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def _node_cosines(query: jax.Array, unit: jax.Array) -> jax.Array:
  """[B, k] query rows · [N, k] unit features → [B, N] dot products with
  every node: one matmul, then a candidate's score is a gather of a
  scalar (not of its k features), the same whichever candidates are
  scored with it."""
  return query @ unit.T


def prototypes(unit: jax.Array, graph: GraphArrays,
               edge_weight: jax.Array) -> jax.Array:
  """[R_pad, k] per relation (edge type) r, the unit mean of the features
  of r's neighbours (the answers of `(·, r, ?)`), over the edges kept in
  `edge_weight` (a training step's own facts are not among them)."""
  entity = graph.entity
  total = jax.ops.segment_sum(unit[entity.senders] * edge_weight[:, None],
                              entity.edges['type'],
                              graph.relation.nodes['real'].shape[0])
  return unit_rows(total)


class GraphSide(NamedTuple):
  """The query-independent part of a forward pass (`MtaIMKG.graph_side`)."""
  unit: dict[str, jax.Array]  # modality → [N, k] unit features (0: absent)
  present: dict[str, jax.Array]  # modality → bool [N]
  prototypes: dict[str, jax.Array]  # modality → [R_pad, k]
  scales: jax.Array | None  # [L, E] edge gates; None: no gates (ablated)
  # [T, N] per routed term, its mean over the graph's reference queries
  # (name terms 0), which its queries' terms are centred on; None: none.
  reference: jax.Array | None = None
  # [K] a scale per term (eval/fact_gate.py: read from the graph's own
  # facts at ranking); None: as trained.
  term_scales: jax.Array | None = None


class EdgeGates(nn.Module):
  """Per-edge similarities → one gate per layer, `2 σ(z)` with z = 0 at
  initialisation (every gate 1)."""
  num_layers: int
  hidden: int = 16

  @nn.compact
  def __call__(self, features: jax.Array) -> jax.Array:
    """features [E, F] → scales [L, E]."""
    x = nn.relu(nn.Dense(self.hidden, name='hidden')(features))
    z = nn.Dense(self.num_layers, kernel_init=nn.initializers.zeros,
                 name='out')(x)
    return 2.0 * jax.nn.sigmoid(z).T


class MtaIMKG(nn.Module):
  """The full model; see the module docstring."""
  dim: int = 64
  num_layers: int = 6
  task_dim: int = 16
  expert_hidden: int = 64
  num_experts: int = 4
  top_k: int = 0
  uniform_routing: bool = False
  remat: bool = False
  chunk_size: int = 8192
  names_prior: float = 10.0
  gate_hidden: int = 16
  # The router also reads each term's evidence on the graph
  # (data/evidence.py).
  graph_evidence: bool = False
  # Raw modalities and derived views (data/views.py) the model reads.
  modalities: tuple[str, ...] = MODALITIES
  # Ids of the tasks whose queries name their answer (EA, EL): their query
  # terms start at `names_prior` (`terms.NAMES_PRIOR_MODALITIES`).
  names_prior_tasks: tuple[int, ...] = ()
  # Ablation at evaluation: `types.ABLATIONS` or modality names (no
  # parameter changes).
  without: tuple[str, ...] = ()

  @property
  def terms(self) -> Terms:
    return Terms(self.modalities)

  def setup(self):
    self.backbone = Ultra(self.dim, self.num_layers, remat=self.remat)
    self.gates = EdgeGates(self.num_layers, self.gate_hidden)
    self.task_embedding = nn.Embed(len(TASKS), self.task_dim)
    self.router = TermRouter(self.terms, self.names_prior_tasks,
                             self.names_prior, self.num_experts,
                             self.expert_hidden, self.top_k,
                             self.uniform_routing, self.graph_evidence)

  def _evidence(self, graph: GraphArrays,
                relations: jax.Array) -> jax.Array:
    """[B, 2M, 2F] per modality term, what the graph says of it: the
    query relation's evidence and the graph's mean
    (`evidence.term_columns`)."""
    columns = jnp.asarray(evidence_lib.term_columns(self.modalities))
    rows = graph.evidence[relations][:, columns]
    mean = jnp.broadcast_to(graph.evidence_mean[columns], rows.shape)
    return jnp.concatenate([rows, mean], axis=-1)

  def _kept(self) -> tuple[str, ...]:
    if WITHOUT_MODALITIES in self.without:
      return ()
    return tuple(m for m in self.modalities if m not in self.without)

  def graph_side(self, graph: GraphArrays,
                 edge_weight: jax.Array | None = None,
                 centre: bool = False) -> GraphSide:
    """What the model computes of a graph whatever the query: unit
    features, presence, relation prototypes and the layers' edge gates,
    and with `centre` (ranking a one-to-one task, `model.num_references`)
    the learned terms of the graph's reference queries. Ranking computes
    it once per graph (`steps.StepFns.graph_side`), not once per batch;
    training per step (the step's own facts are left out of
    `edge_weight`)."""
    if edge_weight is None:
      edge_weight = graph.entity.edges['weight']
    entity = graph.entity.nodes
    kept = self._kept()
    unit, present, proto = {}, {}, {}
    for m in self.modalities:
      available = graph.modality_available[ALL_MODALITIES.index(m)]
      present[m] = entity[f'{m}_present'] & available & (m in kept)
      unit[m] = unit_rows(entity[m]) * present[m][:, None]
      proto[m] = prototypes(unit[m], graph, edge_weight)
    # The gates run even when nothing is kept (their parameters exist
    # whatever `without` says); the backbone alone ignores them.
    scales = self.gates(edge_similarities(graph, unit, present, proto))
    if not kept or WITHOUT_EDGE_GATES in self.without:
      scales = None
    reference = None
    if centre and graph.references.shape[0]:
      reference = self._reference_terms(graph, edge_weight, scales, unit,
                                        proto)
    return GraphSide(unit, present, proto, scales, reference)

  def _reference_terms(self, graph: GraphArrays, edge_weight: jax.Array,
                       scales: jax.Array | None, unit: dict[str, jax.Array],
                       proto: dict[str, jax.Array]) -> jax.Array:
    """[T, N] per term, what the reference queries
    (`GraphArrays.references`) give every node, their mean: the learned
    terms (structure, candidate–prototype cosines); the query terms' rows
    are 0 (names are query specific).

    A reference is queried as a test query is: without its own `same_as`
    edge. Every query of the graph shares its relation, so the prototype
    rows equal the queries' own and cancel exactly."""
    nodes = graph.references
    condition = graph.shared_condition
    relations = jnp.broadcast_to(condition, nodes.shape)
    h, query, _ = self.backbone.states(
        graph, nodes, relations,
        without_own_facts(graph, nodes, edge_weight), scales)
    structure = jnp.mean(
        self.backbone.score_states(jnp.swapaxes(h, 0, 1), query), axis=0)
    return self.terms.stack(
        structure, {m: jnp.zeros_like(structure) for m in self.modalities},
        {m: _node_cosines(proto[m][condition], unit[m])[0]
         for m in self.modalities}, axis=0)

  def _scorer(self, graph: GraphArrays, queries: Queries,
              edge_weight: jax.Array, side: GraphSide):
    """(score, mixture): `score(index)` gives the weighted terms [B, C, K]
    of candidates `index` [B, C] (less the reference queries' when `side`
    has them); the per-pair work is a gather and a few dot products."""
    nodes, task = queries.nodes, queries.task
    unit, present, proto = side.unit, side.present, side.prototypes
    h, query, _ = self.backbone.states(graph, nodes, queries.relations,
                                       edge_weight, side.scales)
    h = jnp.swapaxes(h, 0, 1)  # [B, N, D]
    context = jnp.concatenate(
        [query] + [present[m][nodes][:, None].astype(jnp.float32)
                   for m in self.modalities], axis=-1)
    weights, mixture = self.router(task, self.task_embedding(task), context,
                                   self._evidence(graph, queries.relations))
    termed = () if WITHOUT_MODALITY_TERMS in self.without else self._kept()
    weights = jnp.where(jnp.asarray(self.terms.kept(termed)), weights, 0.0)
    if side.term_scales is not None:
      weights = weights * side.term_scales
    # Per modality, the query's and its relation prototype's cosine with
    # every node ([B, N] each); candidates gather from them. A query node
    # is no answer of its own query (LP: its self-match would rank it
    # first; EA and EL never score it), so its own cosine counts 0.
    rows = jnp.arange(nodes.shape[0])
    cosines = {m: _node_cosines(unit[m][nodes], unit[m]).at[rows, nodes].set(
        0.0) for m in self.modalities}
    to_prototype = {m: _node_cosines(proto[m][queries.relations], unit[m])
                    for m in self.modalities}

    def score(index: jax.Array) -> jax.Array:
      states = jnp.take_along_axis(h, index[:, :, None], axis=1)
      gather = lambda s: jnp.take_along_axis(s, index, axis=1)
      columns = self.terms.stack(
          self.backbone.score_states(states, query),
          {m: gather(c) for m, c in cosines.items()},
          {m: gather(c) for m, c in to_prototype.items()})
      if side.reference is not None:
        columns -= side.reference.T[index]
      return columns * weights[:, None, :]

    return score, mixture

  def _output(self, weighted: jax.Array, mask: jax.Array,
              balance: jax.Array) -> ModelOutput:
    terms = {name: weighted[..., k]
             for k, name in enumerate(self.terms.names)}
    return ModelOutput(jnp.sum(weighted, axis=-1), shares(weighted, mask),
                       balance, terms)

  def __call__(self, graph: GraphArrays, queries: Queries,
               candidates: jax.Array, edge_weight: jax.Array | None = None,
               candidate_mask: jax.Array | None = None) -> ModelOutput:
    """Training: the logits of `candidates` [B, C] in one pass, never
    centred; `candidate_mask` [B, C] marks the candidates that count in
    the shares (default: every real node), and the balance loss counts
    the valid queries. `edge_weight` leaves a step's own facts out."""
    if edge_weight is None:
      edge_weight = graph.entity.edges['weight']
    side = self.graph_side(graph, edge_weight)
    score, mixture = self._scorer(graph, queries, edge_weight, side)
    if candidate_mask is None:
      candidate_mask = graph.entity.nodes['real'][candidates]
    balance = jnp.zeros((), jnp.float32)
    if mixture is not None:
      balance = moe_lib.balance_loss(mixture.gates, mixture.probabilities,
                                     queries.valid)
    return self._output(score(candidates), candidate_mask, balance)

  def rank(self, graph: GraphArrays, queries: Queries,
           candidates: jax.Array | None = None,
           side: GraphSide | None = None) -> ModelOutput:
    """Ranking: the logits of `candidates` [B, C] (default: every node),
    `chunk_size` at a time in fixed-shape chunks, so memory stays bounded
    and a candidate's score is bitwise the same whichever candidates are
    scored with it. `side`: this graph's `graph_side`, computed once per
    graph by the caller (with `centre=True`, the learned terms are taken
    relative to the reference queries')."""
    edge_weight = graph.entity.edges['weight']
    if side is None:
      side = self.graph_side(graph, edge_weight)
    score, _ = self._scorer(graph, queries, edge_weight, side)
    count = graph.entity.nodes['real'].shape[0]
    if candidates is None:
      candidates = jnp.broadcast_to(jnp.arange(count),
                                    (queries.nodes.shape[0], count))
    width = candidates.shape[1]
    padded = jnp.pad(candidates, ((0, 0), (0, -width % self.chunk_size)))
    weighted = jnp.concatenate(
        [score(padded[:, start:start + self.chunk_size])
         for start in range(0, width, self.chunk_size)], axis=1)[:, :width]
    return self._output(weighted, graph.entity.nodes['real'][candidates],
                        jnp.zeros((), jnp.float32))


def without_own_facts(graph: GraphArrays, nodes: jax.Array,
                      edge_weight: jax.Array) -> jax.Array:
  """`edge_weight` without the edges of the shared condition relation (EA:
  `same_as`, both directions) at `nodes` [K]: queries made of training
  seeds, asked as a test query is."""
  entity = graph.entity
  chosen = jnp.zeros(entity.nodes['real'].shape, bool).at[nodes].set(True)
  kind = entity.edges['type'] % graph.num_base_relations
  own = ((chosen[entity.senders] | chosen[entity.receivers]) &
         (kind == graph.shared_condition[0]))
  return jnp.where(own, 0.0, edge_weight)


def edge_similarities(graph: GraphArrays, unit: dict[str, jax.Array],
                      present: dict[str, jax.Array],
                      proto: dict[str, jax.Array]) -> jax.Array:
  """[E, 3·M] per edge and modality: the cosine of its two ends, of its
  neighbour and its relation's prototype, and whether both ends have the
  modality (what the edge gates read)."""
  entity = graph.entity
  receivers, senders = entity.receivers, entity.senders
  kinds = entity.edges['type']
  features = []
  for m in unit:
    both = present[m][receivers] & present[m][senders]
    features += [jnp.sum(unit[m][receivers] * unit[m][senders], axis=-1),
                 jnp.sum(unit[m][senders] * proto[m][kinds], axis=-1),
                 both.astype(jnp.float32)]
  return jnp.stack(features, axis=-1)


class StructureOnly(nn.Module):
  """ULTRA alone in the model interface (routing: all on structure)."""
  dim: int = 64
  num_layers: int = 6
  remat: bool = False
  terms = Terms(())

  def setup(self):
    self.backbone = Ultra(self.dim, self.num_layers, remat=self.remat)

  def graph_side(self, graph: GraphArrays,
                 edge_weight: jax.Array | None = None,
                 centre: bool = False) -> None:
    """Nothing of the graph is query independent here."""
    del graph, edge_weight, centre

  def __call__(self, graph: GraphArrays, queries: Queries,
               candidates: jax.Array | None,
               edge_weight: jax.Array | None = None,
               candidate_mask: jax.Array | None = None) -> ModelOutput:
    del candidate_mask
    logits = self.backbone(graph, queries.nodes, queries.relations,
                           candidates, edge_weight)
    routing = jax.nn.one_hot(jnp.zeros(queries.nodes.shape, jnp.int32),
                             len(self.terms))
    chex.assert_rank(logits, 2)
    return ModelOutput(logits, routing, jnp.zeros((), jnp.float32),
                       {'structure': logits})

  def rank(self, graph: GraphArrays, queries: Queries,
           candidates: jax.Array | None = None,
           side: None = None) -> ModelOutput:
    del side
    return self(graph, queries, candidates)
