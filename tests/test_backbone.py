"""The Flax ULTRA backbone equals an independent numpy ULTRA, layer by layer."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ultra_reference as ref
from mtaimkg_jax.data.featurize import featurize
from mtaimkg_jax.data.graph import build_lp
from mtaimkg_jax.data.mmkg import LPTask, MMKG, Vocab
from mtaimkg_jax.data.padding import Budget, choose_budget, graph_arrays
from mtaimkg_jax.models.backbone import Ultra
from mtaimkg_jax.models.ultra_import import ultra_params

DIM, LAYERS = 8, 3


def _random_graph(seed, num_entities=9, num_relations=3, num_triples=20):
  rng = np.random.default_rng(seed)
  triples = np.unique(np.stack([
      rng.integers(0, num_entities, num_triples),
      rng.integers(0, num_relations, num_triples),
      rng.integers(0, num_entities, num_triples)], 1), axis=0)
  kg = MMKG(name='tiny', entities=Vocab([f'e{i}' for i in range(num_entities)]),
            relations=Vocab([f'r{i}' for i in range(num_relations)]),
            triples={'train': triples, 'valid': triples[:2],
                     'test': triples[2:4]},
            names=[f'e{i}' for i in range(num_entities)],
            texts=[''] * num_entities)
  return featurize(build_lp(LPTask(key='lp/tiny', kg=kg)), 4)


def _reference_inputs(graph):
  edge_index = graph.edges[:, [0, 2]].T
  edge_type = graph.edges[:, 1]
  rel_index, rel_type = ref.build_relation_graph(edge_index, edge_type,
                                                 graph.num_relations)
  return edge_index, edge_type, rel_index, rel_type


def test_relation_graph_matches_brute_force():
  graph = _random_graph(0)
  edge_index, edge_type, rel_index, rel_type = _reference_inputs(graph)
  expected = {(a, b, m) for (a, b), m in zip(rel_index.T.tolist(),
                                             rel_type.tolist())}
  got = {(a, b, m) for a, m, b in graph.relation_edges.tolist()}
  assert got == expected


@pytest.mark.parametrize('padding_extra', [0, 13])
def test_layers_match_numpy_reference(padding_extra):
  graph = _random_graph(1)
  need = choose_budget(graph)
  budget = Budget(need.nodes + padding_extra, need.edges + padding_extra,
                  need.relations + padding_extra,
                  need.relation_edges + padding_extra)
  arrays = graph_arrays(graph, budget, 4)
  state = ref.random_state(np.random.default_rng(2), DIM, LAYERS)
  params = ultra_params(state, 'random', num_layers=LAYERS, dim=DIM)
  model = Ultra(dim=DIM, num_layers=LAYERS)
  nodes = np.array([0, 3, 5, 8])
  relations = np.array([0, 4, 2, 5])  # 4 and 5 are inverses of 1 and 2
  (h, query, relation_states), inter = model.apply(
      {'params': params}, arrays, nodes, relations, method=Ultra.states,
      capture_intermediates=True)
  chex.assert_shape(h, (budget.nodes, 4, DIM))
  chex.assert_shape(relation_states, (budget.relations, 4, DIM))

  edge_index, edge_type, rel_index, rel_type = _reference_inputs(graph)
  condition = np.where(relations >= 3, relations - 3, relations)
  rel_ref, rel_layers = ref.relation_gnn(state, rel_index, rel_type,
                                         graph.num_relations, condition,
                                         LAYERS, return_layers=True)
  scores_ref, ent_layers = ref.entity_gnn(
      state, rel_ref, edge_index, edge_type, graph.num_nodes, nodes,
      relations, LAYERS, return_layers=True)

  # States after layer i = boundary + the captured outputs of layers ≤ i.
  captured = inter['intermediates']
  rel_boundary = np.zeros((budget.relations, 4, DIM), np.float32)
  rel_boundary[condition, np.arange(4)] = 1.0
  ent_boundary = np.zeros((budget.nodes, 4, DIM), np.float32)
  ent_boundary[nodes, np.arange(4)] = np.asarray(query)
  for name, layers, boundary, rows in (
      ('relation_model', rel_layers, rel_boundary, graph.num_relations),
      ('entity_model', ent_layers, ent_boundary, graph.num_nodes)):
    states = boundary
    for i, expected in enumerate(layers):
      states = states + np.asarray(
          captured[name][f'layer_{i}']['__call__'][0])
      np.testing.assert_allclose(
          np.swapaxes(states, 0, 1)[:, :rows], expected, rtol=1e-5,
          atol=1e-5, err_msg=f'{name} layer {i}')

  logits = model.apply({'params': params}, arrays, nodes, relations)
  np.testing.assert_allclose(np.asarray(logits)[:, :graph.num_nodes],
                             scores_ref, rtol=1e-5, atol=1e-5)


def test_padding_does_not_change_real_scores():
  graph = _random_graph(3)
  state = ref.random_state(np.random.default_rng(4), DIM, LAYERS)
  params = ultra_params(state, 'random', num_layers=LAYERS, dim=DIM)
  model = Ultra(dim=DIM, num_layers=LAYERS)
  nodes, relations = np.array([1, 2]), np.array([1, 3])
  outputs = []
  for extra in (0, 40):
    need = choose_budget(graph)
    budget = Budget(need.nodes + extra, need.edges + extra,
                    need.relations + extra, need.relation_edges + extra)
    logits = model.apply({'params': params}, graph_arrays(graph, budget, 4),
                         nodes, relations)
    outputs.append(np.asarray(logits)[:, :graph.num_nodes])
  np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-6, atol=1e-6)


def test_edge_weight_zero_removes_an_edge():
  graph = _random_graph(5)
  budget = choose_budget(graph)
  arrays = graph_arrays(graph, budget, 4)
  state = ref.random_state(np.random.default_rng(6), DIM, LAYERS)
  params = ultra_params(state, 'random', num_layers=LAYERS, dim=DIM)
  model = Ultra(dim=DIM, num_layers=LAYERS)
  nodes, relations = np.array([graph.edges[0, 0]]), np.array([0])
  weight = np.asarray(arrays.entity.edges['weight']).copy()
  weight[0] = 0.0
  got = model.apply({'params': params}, arrays, nodes, relations,
                    edge_weight=jnp.asarray(weight))
  kept = np.ones(graph.num_edges, bool)
  kept[0] = False
  edge_index = graph.edges[kept][:, [0, 2]].T
  rel_index, rel_type = ref.build_relation_graph(
      graph.edges[:, [0, 2]].T, graph.edges[:, 1], graph.num_relations)
  rel = ref.relation_gnn(state, rel_index, rel_type, graph.num_relations,
                         relations % graph.num_base_relations, LAYERS)
  expected = ref.entity_gnn(state, rel, edge_index, graph.edges[kept][:, 1],
                            graph.num_nodes, nodes, relations, LAYERS)
  np.testing.assert_allclose(np.asarray(got)[:, :graph.num_nodes], expected,
                             rtol=1e-5, atol=1e-5)


def test_jit_compiles_once_per_budget():
  graph = _random_graph(7)
  budget = choose_budget(graph)
  arrays = jax.tree_util.tree_map(jnp.asarray,
                                  graph_arrays(graph, budget, 4))
  state = ref.random_state(np.random.default_rng(8), DIM, LAYERS)
  params = ultra_params(state, 'random', num_layers=LAYERS, dim=DIM)
  model = Ultra(dim=DIM, num_layers=LAYERS)
  traces = []

  @jax.jit
  def forward(params, arrays, nodes, relations):
    traces.append(1)
    return model.apply({'params': params}, arrays, nodes, relations)

  for seed in range(4):
    rng = np.random.default_rng(seed)
    forward(params, arrays, rng.integers(0, 9, 3).astype(np.int32),
            rng.integers(0, 6, 3).astype(np.int32))
  assert len(traces) == 1


def test_shared_condition_equals_per_query_conditions():
  """EA/EL graphs run the relation GNN once for all queries: same result."""
  graph = _random_graph(9)
  budget = choose_budget(graph)
  per_query = graph_arrays(graph, budget, 4)
  assert per_query.shared_condition.shape == (0,)  # LP: queries differ
  shared = per_query._replace(shared_condition=np.array([1], np.int32))
  state = ref.random_state(np.random.default_rng(10), DIM, LAYERS)
  params = ultra_params(state, 'random', num_layers=LAYERS, dim=DIM)
  model = Ultra(dim=DIM, num_layers=LAYERS)
  nodes, relations = np.array([0, 2, 4]), np.array([1, 1, 4])  # 4 = 1⁻¹
  a = model.apply({'params': params}, per_query, nodes, relations)
  b = model.apply({'params': params}, shared, nodes, relations)
  np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('shared', [False, True])
@pytest.mark.parametrize('chunk', [3, 512])
def test_fused_propagate_matches_plain_scatter(shared, chunk):
  """Forward and custom VJP of the chunked core equal gather → scatter-add."""
  from mtaimkg_jax.models.backbone import propagate
  rng = np.random.default_rng(11)
  n, b, d, t, e = 9, 4, 5, 3, 23
  receivers = np.sort(rng.integers(0, n, e)).astype(np.int32)
  senders = rng.integers(0, n, e).astype(np.int32)
  types = rng.integers(0, t, e).astype(np.int32)
  weight = (rng.random(e) > 0.2).astype(np.float32)
  h = jnp.asarray(rng.normal(size=(n, b, d)), jnp.float32)
  relation = jnp.asarray(rng.normal(size=(t, 1 if shared else b, d)),
                         jnp.float32)
  probe = jnp.asarray(rng.normal(size=(n, b, d)), jnp.float32)

  def plain(h, relation):
    messages = h[senders] * relation[types] * weight[:, None, None]
    return jax.ops.segment_sum(messages, receivers, n)

  def fused(h, relation):
    return propagate(h, relation, types, senders, receivers, weight, chunk)

  np.testing.assert_allclose(fused(h, relation), plain(h, relation),
                             rtol=1e-5, atol=1e-5)
  for fn_grads in zip(*(jax.grad(lambda h, r, f=f: jnp.sum(f(h, r) * probe),
                                 argnums=(0, 1))(h, relation)
                        for f in (fused, plain))):
    np.testing.assert_allclose(fn_grads[0], fn_grads[1], rtol=1e-5,
                               atol=1e-5)
  # Learned edge gates: the weights get the gradient of the plain scatter.
  weights = jnp.asarray(weight * rng.random(e), jnp.float32)

  def gated(h, relation, w, learned):
    if learned:
      return propagate(h, relation, types, senders, receivers, w, chunk, True)
    messages = h[senders] * relation[types] * w[:, None, None]
    return jax.ops.segment_sum(messages, receivers, n)

  for pair in zip(*(jax.grad(
      lambda h, r, w, f=f: jnp.sum(gated(h, r, w, f) * probe),
      argnums=(0, 1, 2))(h, relation, weights) for f in (True, False))):
    np.testing.assert_allclose(pair[0], pair[1], rtol=1e-5, atol=1e-5)
