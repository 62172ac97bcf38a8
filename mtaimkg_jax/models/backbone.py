"""The structural backbone: ULTRA's relation GNN and entity GNN in Flax.

The same computation as ULTRA (Galkin et al., 2024) so its released
checkpoints load and reproduce their numbers:

- Relation GNN on the graph of relations: boundary = ones on the query
  relation; per layer the four meta-relation vectors come from a 4-row
  embedding (query independent).
- Entity GNN (NBFNet): boundary = the query relation's representation on the
  query node; per layer the relation vectors are an MLP of the relation
  GNN's output.
- Each layer: DistMult messages `h[neighbour] * rel[type]` summed at each
  node over its *outgoing* edges (ULTRA's rspmm kernel: node
  `edge_index[0]` reads `edge_index[1]`; here: receivers read senders), plus
  the layer-0 boundary; linear on `[h, agg]`, layer norm, ReLU, shortcut.
- The relation GNN is conditioned on the original relation r; a query
  `(t, r⁻¹, ?)` reads row `r + R` of that same output.

States are node-major `[N, B, D]`: a gather of neighbours reads whole
contiguous `[B, D]` rows.
"""

from __future__ import annotations

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from mtaimkg_jax.types import GraphArrays, GraphsTuple

# torch.nn.LayerNorm's default, which the ULTRA checkpoints were trained with.
LAYER_NORM_EPSILON = 1e-5


# Edges per step of the fused message-passing loop: small enough that a
# chunk's [chunk, B, D] messages stay in cache, large enough to amortise the
# loop. 512 measured fastest on MKG-W (benchmarks/README.md).
EDGE_CHUNK = 512


def _chunked(x: jax.Array, chunk: int) -> jax.Array:
  """Pads an edge array to a multiple of `chunk` by repeating its last
  entry (keeps receivers sorted; padded edges get weight 0 separately)."""
  pad = -x.shape[0] % chunk
  return jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)]) if pad else x


def _edge_loop(num_edges: int, chunk: int, body, init):
  """fori_loop over edge chunks; `body(slice_fn, start, carry) -> carry`
  (`start`: the chunk's first edge)."""

  def step(i, carry):
    return body(lambda x: jax.lax.dynamic_slice_in_dim(x, i * chunk, chunk),
                i * chunk, carry)

  return jax.lax.fori_loop(0, -(-num_edges // chunk), step, init)


def _propagate_forward(h, relation, edge_type, senders, receivers,
                       edge_weight, chunk):
  weight = jnp.concatenate(
      [edge_weight, jnp.zeros((-edge_weight.shape[0] % chunk,),
                              edge_weight.dtype)])
  edges = [_chunked(x, chunk) for x in (edge_type, senders, receivers)]

  def body(take, _, out):
    kind, sender, receiver = (take(x) for x in edges)
    messages = h[sender] * relation[kind] * take(weight)[:, None, None]
    return out.at[receiver].add(messages, indices_are_sorted=True)

  return _edge_loop(edge_weight.shape[0], chunk, body, jnp.zeros_like(h))


@functools.partial(jax.custom_vjp, nondiff_argnums=(6, 7))
def propagate(h: jax.Array, relation: jax.Array, edge_type: jax.Array,
              senders: jax.Array, receivers: jax.Array,
              edge_weight: jax.Array, chunk: int = EDGE_CHUNK,
              weight_grad: bool = False) -> jax.Array:
  """Σ over edges of `h[sender] * relation[type] * weight` into receivers.

  The fused message-passing core: a loop over chunks of edges gathers,
  multiplies and scatter-adds without ever materialising the
  `[E, B, D]` messages, forward and backward (a custom VJP). Receivers must
  be sorted (graphs are built that way).

  Args:
    h: [N, B, D] node states.
    relation: [T, B, D] or [T, 1, D] relation vectors by edge type.
    edge_type, senders, receivers: int [E].
    edge_weight: [E] (0 drops an edge: padding, or a removed query fact).
    chunk: edges per loop step.
    weight_grad: whether `edge_weight` gets a gradient (it does when
      learned gates scale it; plain data gets zeros, at no cost).
  Returns:
    [N, B, D].
  """
  return _propagate_forward(h, relation, edge_type, senders, receivers,
                            edge_weight, chunk)


def _propagate_fwd(h, relation, edge_type, senders, receivers, edge_weight,
                   chunk, weight_grad):
  del weight_grad
  out = _propagate_forward(h, relation, edge_type, senders, receivers,
                           edge_weight, chunk)
  return out, (h, relation, edge_type, senders, receivers, edge_weight)


def _propagate_bwd(chunk, weight_grad, residuals, grad):
  h, relation, edge_type, senders, receivers, edge_weight = residuals
  weight = jnp.concatenate(
      [edge_weight, jnp.zeros((-edge_weight.shape[0] % chunk,),
                              edge_weight.dtype)])
  edges = [_chunked(x, chunk) for x in (edge_type, senders, receivers)]
  shared = relation.shape[1] == 1 and h.shape[1] != 1

  def body(take, start, carry):
    grad_h, grad_relation, grad_weight = carry
    kind, sender, receiver = (take(x) for x in edges)
    reaching = grad[receiver]
    incoming = reaching * take(weight)[:, None, None]
    grad_h = grad_h.at[sender].add(incoming * relation[kind])
    through = incoming * h[sender]
    if weight_grad:
      per_edge = jnp.sum(reaching * h[sender] * relation[kind], axis=(1, 2))
      grad_weight = jax.lax.dynamic_update_slice_in_dim(grad_weight, per_edge,
                                                        start, 0)
    if shared:
      through = jnp.sum(through, axis=1, keepdims=True)
    return grad_h, grad_relation.at[kind].add(through), grad_weight

  grad_h, grad_relation, grad_weight = _edge_loop(
      edge_weight.shape[0], chunk, body,
      (jnp.zeros_like(h), jnp.zeros_like(relation), jnp.zeros_like(weight)))
  return (grad_h, grad_relation, None, None, None,
          grad_weight[:edge_weight.shape[0]])


propagate.defvjp(_propagate_fwd, _propagate_bwd)


class ConcatDense(nn.Module):
  """`Dense` on `[a, b]` computed as `a @ K[:d] + b @ K[d:]`: the same
  parameters as `nn.Dense` on the concatenation (so checkpoints map one to
  one) without materialising the `[N, B, 2D]` concatenation (1.9x faster
  per layer on CPU, benchmarks/README.md)."""
  features: int

  @nn.compact
  def __call__(self, a: jax.Array, b: jax.Array) -> jax.Array:
    width = a.shape[-1]
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (width + b.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    return a @ kernel[:width] + b @ kernel[width:] + bias


class RelationalConv(nn.Module):
  """One GeneralizedRelationalConv layer (DistMult, sum aggregation);
  `learned_weights`: the edge weights carry learned gates (and get their
  gradient)."""
  dim: int
  layer_norm: bool = True
  learned_weights: bool = False

  @nn.compact
  def __call__(self, h: jax.Array, boundary: jax.Array, relation: jax.Array,
               edge_type: jax.Array, senders: jax.Array,
               receivers: jax.Array, edge_weight: jax.Array) -> jax.Array:
    aggregate = propagate(h, relation, edge_type, senders, receivers,
                          edge_weight, EDGE_CHUNK,
                          self.learned_weights) + boundary
    out = ConcatDense(self.dim, name='linear')(h, aggregate)
    if self.layer_norm:
      out = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, name='layer_norm')(out)
    return nn.relu(out)


def _one_hot_boundary(index: jax.Array, values: jax.Array,
                      num_nodes: int) -> jax.Array:
  """[N, B, D] zeros with `values[b]` at node `index[b]` of column b."""
  hot = jax.nn.one_hot(index, num_nodes, dtype=values.dtype)  # [B, N]
  return hot.T[:, :, None] * values[None, :, :]


class RelationGNN(nn.Module):
  """ULTRA's RelNBFNet: representations of every relation given the query."""
  dim: int = 64
  num_layers: int = 6
  layer_norm: bool = True
  remat: bool = False

  @nn.compact
  def __call__(self, relation_graph: GraphsTuple,
               condition: jax.Array) -> jax.Array:
    """Returns [R_pad, B, D] for query relations `condition` [B]."""
    num_nodes = relation_graph.nodes['real'].shape[0]
    ones = jnp.ones((condition.shape[0], self.dim), jnp.float32)
    boundary = _one_hot_boundary(condition, ones, num_nodes)
    meta = relation_graph.edges['type']
    layer_cls = nn.remat(RelationalConv) if self.remat else RelationalConv
    h = boundary
    for i in range(self.num_layers):
      meta_vectors = nn.Embed(4, self.dim, name=f'relation_{i}')(
          jnp.arange(4))
      out = layer_cls(self.dim, self.layer_norm, name=f'layer_{i}')(
          h, boundary, meta_vectors[:, None, :], meta,
          relation_graph.senders, relation_graph.receivers,
          relation_graph.edges['weight'])
      h = out + h
    return h


class RelationProjection(nn.Module):
  """Per-layer MLP (D→D, ReLU, D→D) of the relation representations."""
  dim: int

  @nn.compact
  def __call__(self, relations: jax.Array) -> jax.Array:
    x = nn.relu(nn.Dense(self.dim, name='dense_0')(relations))
    return nn.Dense(self.dim, name='dense_1')(x)


class EntityGNN(nn.Module):
  """ULTRA's EntityNBFNet: query-conditioned states of every node."""
  dim: int = 64
  num_layers: int = 6
  layer_norm: bool = True
  remat: bool = False

  @nn.compact
  def __call__(self, graph: GraphsTuple, relations: jax.Array,
               nodes: jax.Array, query_relations: jax.Array,
               edge_weight: jax.Array, edge_scales: jax.Array | None = None
               ) -> tuple[jax.Array, jax.Array]:
    """Returns (states [N_pad, B, D], query vectors [B, D]).

    `relations` [R_pad, B, D] (or [R_pad, 1, D] when every query shares its
    condition) comes from the relation GNN; `edge_scales` [L, E], if given,
    multiply layer l's edge weights (learned, feature-aware gates).
    """
    batch = nodes.shape[0]
    column = jnp.arange(batch) if relations.shape[1] == batch else 0
    query = relations[query_relations, column]  # [B, D]
    num_nodes = graph.nodes['real'].shape[0]
    boundary = _one_hot_boundary(nodes, query, num_nodes)
    edge_type = graph.edges['type']
    layer_cls = nn.remat(RelationalConv) if self.remat else RelationalConv
    h = boundary
    gated = edge_scales is not None
    for i in range(self.num_layers):
      projected = RelationProjection(self.dim,
                                     name=f'relation_projection_{i}')(
                                         relations)
      weight = edge_weight * edge_scales[i] if gated else edge_weight
      out = layer_cls(self.dim, self.layer_norm, gated, name=f'layer_{i}')(
          h, boundary, projected, edge_type, graph.senders, graph.receivers,
          weight)
      h = out + h
    return h, query


class ScoreMLP(nn.Module):
  """ULTRA's final MLP on `[h, query]` → one logit (hidden = 2D)."""
  hidden: int

  @nn.compact
  def __call__(self, features: jax.Array) -> jax.Array:
    x = nn.relu(nn.Dense(self.hidden, name='dense_0')(features))
    return nn.Dense(1, name='dense_1')(x)[..., 0]


def condition_relation(relations: jax.Array,
                       num_base_relations: jax.Array) -> jax.Array:
  """r for r < R, r - R for inverses: what the relation GNN is run on."""
  return jnp.where(relations >= num_base_relations,
                   relations - num_base_relations, relations)


class Ultra(nn.Module):
  """Relation GNN → entity GNN → score MLP: ULTRA, structure only."""
  dim: int = 64
  num_layers: int = 6
  layer_norm: bool = True
  remat: bool = False

  def setup(self):
    self.relation_model = RelationGNN(self.dim, self.num_layers,
                                      self.layer_norm, self.remat)
    self.entity_model = EntityGNN(self.dim, self.num_layers, self.layer_norm,
                                  self.remat)
    self.mlp = ScoreMLP(2 * self.dim)

  def states(self, graph: GraphArrays, nodes: jax.Array,
             relations: jax.Array, edge_weight: jax.Array | None = None,
             edge_scales: jax.Array | None = None
             ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Query-conditioned states (`edge_scales`: see `EntityGNN`).

    Returns (entity states [N_pad, B, D], query vectors [B, D], relation
    representations [R_pad, B or 1, D]).
    """
    chex.assert_rank([nodes, relations], 1)
    if edge_weight is None:
      edge_weight = graph.entity.edges['weight']
    if graph.shared_condition.shape[0] == 1:
      condition = graph.shared_condition  # one run serves every query
    else:
      condition = condition_relation(relations, graph.num_base_relations)
    relation_states = self.relation_model(graph.relation, condition)
    if graph.isolated_queries.shape[0] == 1:
      # No query node has an edge, so no query reaches any other node: one
      # run (the first query's) gives every other node's state for all.
      # Only the query nodes' own states (never candidates) are not theirs.
      h, _ = self.entity_model(graph.entity, relation_states, nodes[:1],
                               relations[:1], edge_weight, edge_scales)
      h = jnp.broadcast_to(h, (h.shape[0], nodes.shape[0], h.shape[2]))
      return h, relation_states[relations, 0], relation_states
    h, query = self.entity_model(graph.entity, relation_states, nodes,
                                 relations, edge_weight, edge_scales)
    return h, query, relation_states

  def score_states(self, h: jax.Array, query: jax.Array) -> jax.Array:
    """Candidate states [B, C, D] and query vectors [B, D] → logits [B, C]."""
    features = jnp.concatenate(
        [h, jnp.broadcast_to(query[:, None, :], h.shape)], axis=-1)
    return self.mlp(features)

  def __call__(self, graph: GraphArrays, nodes: jax.Array,
               relations: jax.Array, candidates: jax.Array | None = None,
               edge_weight: jax.Array | None = None) -> jax.Array:
    """Logits [B, N_pad] over all nodes, or [B, C] over `candidates`."""
    h, query, _ = self.states(graph, nodes, relations, edge_weight)
    h = jnp.swapaxes(h, 0, 1)  # [B, N, D]
    if candidates is not None:
      h = jnp.take_along_axis(h, candidates[:, :, None], axis=1)
    return self.score_states(h, query)

