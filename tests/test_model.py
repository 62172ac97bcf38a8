"""MtaIMKG modules: shapes, masks, routing, MoE balance, padding invariance."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtaimkg_jax.data.graph import build_lp
from mtaimkg_jax.data.mmkg import Features, LPTask, MMKG, Vocab
from mtaimkg_jax.data.padding import Budget, choose_budget, graph_arrays
from mtaimkg_jax.models import moe, routing
from mtaimkg_jax.models.layers import FeatureAdapter
from mtaimkg_jax.models.model import MtaIMKG
from mtaimkg_jax.types import TASK_IDS, Queries

K = 6


def _graph(seed=0, n=12, with_image=True):
  rng = np.random.default_rng(seed)
  triples = np.unique(np.stack([rng.integers(0, n, 30), rng.integers(0, 2, 30),
                                rng.integers(0, n, 30)], 1), axis=0)
  text_present = rng.random(n) > 0.2
  features = {'text': Features(rng.normal(size=(n, 10)).astype(np.float32),
                               text_present)}
  if with_image:
    features['image'] = Features(rng.normal(size=(n, 5)).astype(np.float32),
                                 rng.random(n) > 0.5)
  kg = MMKG('g', Vocab([str(i) for i in range(n)]), Vocab(['a', 'b']),
            {'train': triples[4:], 'valid': triples[:2], 'test': triples[2:4]},
            [str(i) for i in range(n)], [''] * n, features)
  return build_lp(LPTask('lp/g', kg), k=K)


def _queries(task, batch=4):
  return Queries(nodes=np.array([0, 1, 2, 3][:batch], np.int32),
                 relations=np.array([0, 1, 2, 3][:batch], np.int32),
                 answers=np.zeros(batch, np.int32),
                 task=np.full(batch, TASK_IDS[task], np.int32),
                 valid=np.ones(batch, bool))


@pytest.fixture(scope='module')
def setup():
  graph = _graph()
  budget = choose_budget(graph)
  arrays = graph_arrays(graph, budget, K)
  model = MtaIMKG(dim=8, num_layers=2, task_dim=4, router_hidden=8,
                  num_experts=3, expert_hidden=8, chunk_size=8)
  params = model.init(jax.random.PRNGKey(0), arrays, _queries('lp'),
                      np.zeros((4, 2), np.int32))['params']
  return graph, budget, arrays, model, params


def test_shapes_and_routing_sums_to_one(setup):
  graph, budget, arrays, model, params = setup
  candidates = np.array([[1, 2, 3]] * 4, np.int32)
  out = model.apply({'params': params}, arrays, _queries('lp'), candidates,
                    token_mask=np.ones((4, 3), bool))
  chex.assert_shape(out.logits, (4, 3))
  chex.assert_shape(out.routing, (4, len(routing.ROUTED)))
  np.testing.assert_allclose(out.routing.sum(-1), 1.0, rtol=1e-6)
  assert np.isfinite(out.balance_loss) and out.balance_loss >= 1.0 - 1e-5
  full = model.apply({'params': params}, arrays, _queries('lp'))
  chex.assert_shape(full.logits, (4, budget.nodes))
  # Scoring all nodes (in chunks) equals scoring them as candidates.
  np.testing.assert_allclose(full.logits[:, [1, 2, 3]], out.logits,
                             rtol=1e-5, atol=1e-5)


def test_routing_changes_with_the_task_only(setup):
  _, _, arrays, model, params = setup
  weights = {t: np.asarray(model.apply({'params': params}, arrays,
                                       _queries(t)).routing)
             for t in TASK_IDS}
  assert not np.allclose(weights['lp'], weights['ea'])
  assert not np.allclose(weights['ea'], weights['el'])


def test_absent_modality_gets_zero_weight():
  graph = _graph(with_image=False)
  arrays = graph_arrays(graph, choose_budget(graph), K)
  model = MtaIMKG(dim=8, num_layers=1, task_dim=4, router_hidden=8,
                  num_experts=2, expert_hidden=8)
  params = model.init(jax.random.PRNGKey(1), arrays, _queries('lp'),
                      np.zeros((4, 2), np.int32))['params']
  weights = np.asarray(model.apply({'params': params}, arrays,
                                   _queries('el')).routing)
  image = [routing.ROUTED.index('image'), routing.ROUTED.index('image_cross')]
  assert (weights[:, image] == 0).all()
  np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)


def test_uniform_routing_ablation():
  r = routing.TaskRouter(hidden=4, uniform=True)
  available = np.array([[True, True, False, True, False]])
  w = r.apply({}, jnp.ones((1, 2)), jnp.ones((1, 3)), available)
  np.testing.assert_allclose(w, [[1 / 3, 1 / 3, 0, 1 / 3, 0]], rtol=1e-6)


def test_padding_never_changes_a_score(setup):
  graph, budget, _, model, params = setup
  bigger = Budget(budget.nodes + 11, budget.edges + 7, budget.relations + 3,
                  budget.relation_edges + 5)
  small = model.apply({'params': params}, graph_arrays(graph, budget, K),
                      _queries('ea'))
  large = model.apply({'params': params}, graph_arrays(graph, bigger, K),
                      _queries('ea'))
  np.testing.assert_allclose(small.logits[:, :graph.num_nodes],
                             large.logits[:, :graph.num_nodes], rtol=1e-5,
                             atol=1e-5)


def test_text_cosine_prior_starts_ea_and_el_from_names_alone(setup):
  """`cosine_gate` starts at `text_prior` on text for EA/EL and 0 elsewhere;
  a large prior makes the EA ranking the text cosine ranking."""
  graph, _, arrays, _, _ = setup
  model = MtaIMKG(dim=8, num_layers=2, task_dim=4, router_hidden=8,
                  num_experts=3, expert_hidden=8, text_prior=1e4,
                  name_prior_tasks=(TASK_IDS['ea'], TASK_IDS['el']))
  params = model.init(jax.random.PRNGKey(0), arrays, _queries('lp'),
                      np.zeros((4, 2), np.int32))['params']
  gate = np.asarray(params['cosine_gate'])
  expected = np.zeros_like(gate)
  expected[[TASK_IDS['ea'], TASK_IDS['el']], 0] = 1e4
  np.testing.assert_array_equal(gate, expected)
  logits = np.asarray(model.apply({'params': params}, arrays,
                                  _queries('ea')).logits)[:, :graph.num_nodes]
  text = np.asarray(arrays.entity.nodes['text'])[:graph.num_nodes]
  unit = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-9)
  cosine = unit[[0, 1, 2, 3]] @ unit.T
  present = graph.features['text'].present
  for row, node in enumerate([0, 1, 2, 3]):
    if present[node]:
      np.testing.assert_array_equal(
          np.argsort(-logits[row][present], kind='stable'),
          np.argsort(-cosine[row][present], kind='stable'))


def test_a_frozen_backbone_gets_no_gradient_and_the_rest_does(setup):
  """With `freeze_backbone` the backbone's outputs are constants of the
  loss (its backward pass is skipped); the same logits as unfrozen."""
  _, _, arrays, model, params = setup
  frozen = model.clone(freeze_backbone=True)
  candidates = np.array([[1, 2, 3]] * 4, np.int32)

  def loss(p, m):
    out = m.apply({'params': p}, arrays, _queries('ea'), candidates,
                  token_mask=np.ones((4, 3), bool))
    return jnp.sum(out.logits ** 2) + out.balance_loss, out.logits

  (_, logits), grads = jax.value_and_grad(loss, has_aux=True)(params, model)
  (_, frozen_logits), frozen_grads = jax.value_and_grad(
      loss, has_aux=True)(params, frozen)
  np.testing.assert_array_equal(logits, frozen_logits)
  norms = lambda tree: [float(jnp.abs(g).sum())
                        for g in jax.tree_util.tree_leaves(tree)]
  assert max(norms(grads['backbone'])) > 0
  assert max(norms(frozen_grads['backbone'])) == 0
  rest = {k: v for k, v in frozen_grads.items() if k != 'backbone'}
  assert sum(norms(rest)) > 0


def test_balance_loss_is_minimal_for_a_uniform_gate():
  rng = np.random.default_rng(0)
  k = 4
  mask = np.ones((3, 5), bool)
  uniform = np.full((3, 5, k), 1 / k)
  assert float(moe.balance_loss(uniform, uniform, mask)) == pytest.approx(1.0)
  for _ in range(20):
    p = rng.dirichlet(np.ones(k) * 0.3, size=(3, 5))
    assert float(moe.balance_loss(p, p, mask)) >= 1.0 - 1e-6
  collapsed = np.zeros((3, 5, k))
  collapsed[..., 0] = 1.0
  assert float(moe.balance_loss(collapsed, collapsed, mask)) == pytest.approx(k)
  # Masked tokens do not count.
  half = mask.copy()
  half[:, 3:] = False
  mixed = uniform.copy()
  mixed[:, 3:] = collapsed[:, 3:]
  assert float(moe.balance_loss(mixed, mixed, half)) == pytest.approx(1.0)


def test_top_k_gates():
  p = jnp.array([[0.1, 0.5, 0.3, 0.1]])
  np.testing.assert_allclose(moe.top_k_gates(p, 2), [[0, 0.625, 0.375, 0]],
                             rtol=1e-6)
  np.testing.assert_allclose(moe.top_k_gates(p, 0), p)


def test_feature_adapter_missing_vector():
  adapter = FeatureAdapter(4)
  x = np.ones((3, 6), np.float32)
  present = np.array([True, False, True])
  params = adapter.init(jax.random.PRNGKey(0), x, present)
  out = adapter.apply(params, x, present)
  np.testing.assert_allclose(out[1], params['params']['missing'])
  np.testing.assert_allclose(out[0], out[2])
