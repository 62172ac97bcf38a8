"""MtaIMKG: shapes, padding invariance, ULTRA at initialisation, routed
terms and their shares, ablations, the MoE and its balance loss."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

from configs import test as test_config
from mtaimkg_jax import metrics, parallel, steps
from mtaimkg_jax.data import loading
from mtaimkg_jax.data.featurize import featurize
from mtaimkg_jax.data.graph import build_lp
from mtaimkg_jax.data.mmkg import Features, LPTask, MMKG, Vocab
from mtaimkg_jax.data.padding import (Budget, choose_budget, graph_arrays,
                                     reference_nodes)
from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.experiment import Experiment
from mtaimkg_jax.models import moe, routing
from mtaimkg_jax.models.model import MtaIMKG, StructureOnly, without_own_facts
from mtaimkg_jax.models.terms import Terms
from mtaimkg_jax.types import MODALITIES, TASK_IDS, Queries, TrainBatch

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
  return featurize(build_lp(LPTask('lp/g', kg)), K)


def _queries(task, batch=4):
  return Queries(nodes=np.array([0, 1, 2, 3][:batch], np.int32),
                 relations=np.array([0, 1, 2, 3][:batch], np.int32),
                 answers=np.zeros(batch, np.int32),
                 task=np.full(batch, TASK_IDS[task], np.int32),
                 valid=np.ones(batch, bool))


NAMES = (TASK_IDS['ea'], TASK_IDS['el'])


def _model(**overrides):
  options = dict(dim=8, num_layers=2, task_dim=4, num_experts=3,
                 expert_hidden=8, chunk_size=8, gate_hidden=4,
                 names_prior_tasks=NAMES)
  return MtaIMKG(**{**options, **overrides})


def _init(model, arrays, seed=0):
  return model.init(jax.random.PRNGKey(seed), arrays, _queries('lp'),
                    np.zeros((4, 2), np.int32))['params']


def _perturbed(params, seed=1, scale=1.0):
  """`params` with the zero-initialised paths (edge gates, MoE experts)
  moved, as training moves them."""
  rng = np.random.default_rng(seed)
  out = jax.tree_util.tree_map(np.array, params)
  out['gates']['out']['kernel'] = scale * rng.normal(
      size=out['gates']['out']['kernel'].shape).astype(np.float32)
  moe_params = out['router']['moe']
  moe_params['w_out'] = scale * rng.normal(
      size=moe_params['w_out'].shape).astype(np.float32)
  return out


@pytest.fixture(scope='module')
def setup():
  graph = _graph()
  budget = choose_budget(graph)
  arrays = graph_arrays(graph, budget, K)
  model = _model()
  return graph, budget, arrays, model, _perturbed(_init(model, arrays))


def test_shapes_and_routing_sums_to_one(setup):
  graph, budget, arrays, model, params = setup
  candidates = np.array([[1, 2, 3]] * 4, np.int32)
  out = model.apply({'params': params}, arrays, _queries('lp'), candidates,
                    candidate_mask=np.ones((4, 3), bool))
  chex.assert_shape(out.logits, (4, 3))
  chex.assert_shape(out.routing, (4, len(Terms(MODALITIES))))
  np.testing.assert_allclose(out.routing.sum(-1), 1.0, rtol=1e-6)
  assert np.isfinite(out.balance_loss) and out.balance_loss >= 1.0 - 1e-5
  # The terms add up to the logits.
  assert tuple(out.terms) == Terms(MODALITIES).names
  np.testing.assert_allclose(sum(out.terms.values()), out.logits, rtol=1e-5,
                             atol=1e-6)
  full = model.apply({'params': params}, arrays, _queries('lp'), method='rank')
  chex.assert_shape(full.logits, (4, budget.nodes))
  # Scoring all nodes (in chunks) equals scoring them as candidates.
  np.testing.assert_allclose(full.logits[:, [1, 2, 3]], out.logits,
                             rtol=1e-5, atol=1e-5)


def test_at_initialisation_lp_logits_are_ultras(setup):
  """Edge gates start at 1 and every non-structure weight of LP at 0:
  the logits are the backbone's own, bit for bit."""
  _, _, arrays, model, _ = setup
  params = _init(model, arrays)
  ultra = StructureOnly(dim=8, num_layers=2)
  want = ultra.apply({'params': {'backbone': params['backbone']}}, arrays,
                     _queries('lp'), method='rank').logits
  got = model.apply({'params': params}, arrays, _queries('lp'), method='rank')
  np.testing.assert_array_equal(got.logits, want)
  assert not np.array_equal(
      model.apply({'params': _perturbed(params)}, arrays,
                  _queries('lp'), method='rank').logits, want)


def test_routing_changes_with_the_task(setup):
  _, _, arrays, model, params = setup
  weights = {t: np.asarray(model.apply({'params': params}, arrays,
                                       _queries(t), method='rank').routing)
             for t in TASK_IDS}
  assert not np.allclose(weights['lp'], weights['ea'])
  assert not np.allclose(weights['ea'], weights['el'])


def test_absent_modality_gets_zero_share():
  graph = _graph(with_image=False)
  arrays = graph_arrays(graph, choose_budget(graph), K)
  model = _model(num_layers=1)
  params = _perturbed(_init(model, arrays, seed=1))
  shares = np.asarray(model.apply({'params': params}, arrays,
                                  _queries('el'), method='rank').routing)
  image = [Terms(MODALITIES).index('image'),
           Terms(MODALITIES).index('image_relation')]
  assert (shares[:, image] == 0).all()
  np.testing.assert_allclose(shares.sum(-1), 1.0, rtol=1e-6)


def test_the_term_that_decides_dominates_the_shares(setup):
  """With the text weights far above the others, text makes the logits:
  its share is nearly all; with structure alone, structure is all."""
  graph, _, arrays, model, params = setup
  loud = jax.tree_util.tree_map(np.array, params)
  base = loud['router']['base']
  base[:] = 1e-3
  base[:, Terms(MODALITIES).index('text')] = 100.0
  shares = np.asarray(model.apply({'params': loud}, arrays,
                                  _queries('ea'), method='rank').routing)
  text = shares[:, Terms(MODALITIES).index('text')]
  has_text = graph.features['text'].present[[0, 1, 2, 3]]
  assert has_text.any() and (text[has_text] > 0.85).all()
  assert (text[~has_text] == 0).all()  # no text of its own: no text term
  alone = model.clone(without=('modalities',))
  shares = np.asarray(alone.apply({'params': params}, arrays,
                                  _queries('ea'), method='rank').routing)
  np.testing.assert_allclose(shares[:, 0], 1.0)


def test_ablations_change_no_parameter(setup):
  """`without` drops terms and gates at evaluation: the backbone alone
  scores with the structure term only; a dropped modality has no term."""
  _, _, arrays, model, params = setup
  full = model.apply({'params': params}, arrays, _queries('ea'), method='rank')
  alone = model.clone(without=('modalities',)).apply(
      {'params': params}, arrays, _queries('ea'), method='rank')
  for name, term in alone.terms.items():
    if name != 'structure':
      assert not np.asarray(term).any()
  assert not np.allclose(alone.logits, full.logits)
  # The ablated model has the same parameters (a checkpoint reads either).
  ablated = _init(model.clone(without=('modalities',)), arrays)
  assert (jax.tree_util.tree_structure(ablated) ==
          jax.tree_util.tree_structure(params))
  no_text = model.clone(without=('text',)).apply({'params': params}, arrays,
                                                 _queries('ea'), method='rank')
  assert not np.asarray(no_text.terms['text']).any()
  assert not np.asarray(no_text.terms['text_relation']).any()
  assert np.asarray(no_text.terms['image']).any()


def test_each_path_of_the_modalities_ablates_alone(setup):
  """'edge_gates' sets every gate to 1 and keeps the terms;
  'modality_terms' keeps the gates and leaves the structure term only."""
  _, _, arrays, model, params = setup
  loud = jax.tree_util.tree_map(np.array, params)
  loud['gates']['out']['kernel'][:] = 1.0  # gates away from 1
  shut = jax.tree_util.tree_map(np.array, loud)
  shut['gates']['out']['kernel'][:] = 0.0  # every gate 1
  def run(without, weights=loud):
    clone = model.clone(without=without)
    side = clone.apply({'params': weights}, arrays, method=clone.graph_side)
    return side, clone.apply({'params': weights}, arrays, _queries('lp'), method='rank')
  full_side, full = run(())
  no_gates_side, no_gates = run(('edge_gates',))
  no_terms_side, no_terms = run(('modality_terms',))
  _, gates_at_one = run((), shut)
  assert no_gates_side.scales is None
  np.testing.assert_array_equal(no_terms_side.scales, full_side.scales)
  assert not np.allclose(full_side.scales, 1.0)
  assert not np.allclose(no_gates.terms['structure'],
                         full.terms['structure'])
  np.testing.assert_allclose(no_gates.terms['structure'],
                             gates_at_one.terms['structure'], rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_array_equal(no_terms.terms['structure'],
                                full.terms['structure'])
  for name in full.terms:
    if name != 'structure':
      np.testing.assert_array_equal(no_gates.terms[name], full.terms[name])
      assert not np.asarray(no_terms.terms[name]).any()


def test_the_scale_path_ranks_and_learns_as_the_plain_path(setup):
  """Remat and small candidate chunks (what big graphs need) give the
  plain path's logits, ranks and gradients."""
  graph, _, arrays, model, params = setup
  scaled = model.clone(remat=True, chunk_size=3)
  queries = _queries('lp')
  plain = model.apply({'params': params}, arrays, queries, method='rank').logits
  chunked = scaled.apply({'params': params}, arrays, queries, method='rank').logits
  np.testing.assert_allclose(chunked, plain, rtol=1e-5, atol=1e-5)
  exclude = np.zeros(plain.shape, bool)
  answers = jnp.asarray([4, 5, 6, 7])
  real = jnp.asarray(arrays.entity.nodes['real'])
  ranks = [metrics.filtered_ranks(logits, answers, exclude, real)
           for logits in (plain, chunked)]
  np.testing.assert_array_equal(*ranks)
  candidates = np.tile(np.arange(6, dtype=np.int32), (4, 1))
  mask = np.ones((4, 6), bool)

  def loss(p, m):
    return jnp.sum(m.apply({'params': p}, arrays, queries, candidates,
                           candidate_mask=mask).logits ** 2)

  grads = [jax.grad(loss)(params, m) for m in (model, scaled)]
  chex.assert_trees_all_close(*grads, rtol=1e-4, atol=1e-5)

  def ranking_loss(p, m):  # candidates in chunks (no token mask)
    return jnp.sum(m.apply({'params': p}, arrays, queries, method='rank').logits ** 2)

  grads = [jax.grad(ranking_loss)(params, m) for m in (model, scaled)]
  chex.assert_trees_all_close(*grads, rtol=1e-4, atol=1e-5)


def test_uniform_routing_ablation_keeps_the_base_weights():
  router = routing.TermRouter(Terms(('text',)), (1,), 10.0, num_experts=2,
                              hidden=4, uniform=True)
  task = jnp.array([0, 1])
  variables = router.init(jax.random.PRNGKey(0), task, jnp.ones((2, 3)),
                          jnp.ones((2, 5)))
  weights, mixture = router.apply(variables, task, jnp.ones((2, 3)),
                                  jnp.ones((2, 5)))
  assert mixture is None
  np.testing.assert_allclose(weights, [[1, 0, 0], [1, 10, 0]])


def test_padding_never_changes_a_score(setup):
  graph, budget, _, model, params = setup
  bigger = Budget(budget.nodes + 11, budget.edges + 7, budget.relations + 3,
                  budget.relation_edges + 5)
  small = model.apply({'params': params}, graph_arrays(graph, budget, K),
                      _queries('ea'), method='rank')
  large = model.apply({'params': params}, graph_arrays(graph, bigger, K),
                      _queries('ea'), method='rank')
  np.testing.assert_allclose(small.logits[:, :graph.num_nodes],
                             large.logits[:, :graph.num_nodes], rtol=1e-5,
                             atol=1e-5)


def test_the_names_prior_starts_ea_and_el_from_names_alone(setup):
  """The text weight starts at `names_prior` for EA/EL and 0 elsewhere; a
  large prior makes the EA ranking the text cosine ranking."""
  graph, _, arrays, _, _ = setup
  model = _model(names_prior=1e4)
  params = _init(model, arrays)
  base = np.asarray(params['router']['base'])
  expected = np.zeros_like(base)
  expected[:, 0] = 1.0
  expected[[TASK_IDS['ea'], TASK_IDS['el']], 1] = 1e4
  np.testing.assert_array_equal(base, expected)
  logits = np.asarray(model.apply({'params': params}, arrays,
                                  _queries('ea'), method='rank').logits)[:, :graph.num_nodes]
  text = np.asarray(arrays.entity.nodes['text'])[:graph.num_nodes]
  unit = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-9)
  cosine = unit[[0, 1, 2, 3]] @ unit.T
  cosine[np.arange(4), [0, 1, 2, 3]] = 0.0  # a query node's own counts 0
  present = graph.features['text'].present
  for row, node in enumerate([0, 1, 2, 3]):
    if present[node]:
      np.testing.assert_array_equal(
          np.argsort(-logits[row][present], kind='stable'),
          np.argsort(-cosine[row][present], kind='stable'))


def test_gates_and_router_learn_from_the_loss(setup):
  """The zero-initialised paths get gradients (through the message
  passing's edge weights, a custom VJP)."""
  _, _, arrays, model, _ = setup
  params = _init(model, arrays)
  candidates = np.array([[1, 2, 3]] * 4, np.int32)

  def loss(p):
    out = model.apply({'params': p}, arrays, _queries('ea'), candidates,
                      candidate_mask=np.ones((4, 3), bool))
    return jnp.sum(out.logits ** 2) + out.balance_loss

  grads = jax.grad(loss)(params)
  for part in (grads['gates']['out']['kernel'],
               grads['router']['moe']['w_out'], grads['router']['base'],
               grads['backbone']['entity_model']['layer_0']['linear'][
                   'kernel']):
    assert float(jnp.abs(part).sum()) > 0


def test_balance_loss_is_minimal_for_a_uniform_gate():
  rng = np.random.default_rng(0)
  k = 4
  mask = np.ones((5,), bool)
  uniform = np.full((5, k), 1 / k)
  assert float(moe.balance_loss(uniform, uniform, mask)) == pytest.approx(1.0)
  for _ in range(20):
    p = rng.dirichlet(np.ones(k) * 0.3, size=5)
    assert float(moe.balance_loss(p, p, mask)) >= 1.0 - 1e-6
  collapsed = np.zeros((5, k))
  collapsed[..., 0] = 1.0
  assert float(moe.balance_loss(collapsed, collapsed, mask)) == pytest.approx(k)
  # Masked rows do not count.
  half = mask.copy()
  half[3:] = False
  mixed = uniform.copy()
  mixed[3:] = collapsed[3:]
  assert float(moe.balance_loss(mixed, mixed, half)) == pytest.approx(1.0)


def test_top_k_gates():
  p = jnp.array([[0.1, 0.5, 0.3, 0.1]])
  np.testing.assert_allclose(moe.top_k_gates(p, 2), [[0, 0.625, 0.375, 0]],
                             rtol=1e-6)
  np.testing.assert_allclose(moe.top_k_gates(p, 0), p)


def _with_reference(task):
  """The synthetic `task` graph of configs/test.py with one reference
  query, and a model with moved parameters."""
  config = test_config.get_config()
  config.model.num_references = 1
  experiment = Experiment(config)
  spec = next(s for s in loading.parse_tasks(config.tasks) if s.task == task)
  prepared = experiment.prepare(spec)
  arrays = jax.tree_util.tree_map(np.asarray, prepared.arrays)
  params = _perturbed(experiment.init_params(prepared), scale=0.3)
  return prepared.graph, arrays, experiment.model, params


@pytest.fixture(scope='module')
def centred():
  return _with_reference('ea')


def test_a_reference_query_centres_its_own_learned_terms_to_zero(centred):
  """Asked as the reference is (its `same_as` edge removed), the reference
  node's structure and prototype terms are exactly what is subtracted, so
  its logits are its name terms alone; without the reference they are
  not."""
  graph, arrays, model, params = centred
  node = int(arrays.references[0])
  same_as = int(arrays.shared_condition[0])
  queries = Queries(
      nodes=np.full(2, node, np.int32),
      relations=np.full(2, same_as, np.int32),
      answers=np.zeros(2, np.int32), task=np.full(2, TASK_IDS['ea'], np.int32),
      valid=np.ones(2, bool))
  weight = without_own_facts(arrays, arrays.references,
                             arrays.entity.edges['weight'])
  # Exactly the seed's own same_as edges, both directions, are gone.
  gone = np.flatnonzero(np.asarray(weight) != np.asarray(
      arrays.entity.edges['weight']))
  assert len(gone) == 2 * np.sum(graph.seed_pairs[:, 0] == node) > 0
  entity = arrays.entity
  assert np.all(np.asarray(entity.edges['type'])[gone] %
                graph.num_base_relations == same_as)
  assert np.all((np.asarray(entity.senders)[gone] == node) |
                (np.asarray(entity.receivers)[gone] == node))
  cut = arrays._replace(entity=entity._replace(
      edges={**entity.edges, 'weight': weight}))
  side = model.apply({'params': params}, cut, centre=True,
                     method='graph_side')
  out = model.apply({'params': params}, cut, queries, side=side,
                    method='rank')
  real = np.asarray(arrays.entity.nodes['real'])
  learned = np.asarray(out.logits - model.terms.names_prior(out.terms))
  np.testing.assert_allclose(learned[:, real], 0.0, atol=1e-4)
  plain = model.apply({'params': params}, cut, queries, method='rank')
  learned = np.asarray(plain.logits - model.terms.names_prior(plain.terms))
  assert np.abs(learned[:, real]).max() > 1e-2


def test_centring_removes_a_score_every_query_gives_a_candidate(centred):
  """The candidate–prototype terms depend on the relation alone, shared by
  every EA query: centred, they are 0 for every query."""
  graph, arrays, model, params = centred
  queries = graph.queries['test']
  batch = Queries(nodes=queries.nodes[:4].astype(np.int32),
                  relations=queries.relations[:4].astype(np.int32),
                  answers=np.zeros(4, np.int32),
                  task=np.full(4, TASK_IDS['ea'], np.int32),
                  valid=np.ones(4, bool))
  for centre in (True, False):
    side = model.apply({'params': params}, arrays, centre=centre,
                       method='graph_side')
    terms = model.apply({'params': params}, arrays, batch, side=side,
                        method='rank').terms
    relation = np.concatenate([np.asarray(terms[k])
                               for k in model.terms.prototype_names])
    assert np.allclose(relation, 0.0) == centre


def test_training_is_not_centred(centred):
  """Centring is a ranking-time operation: the train step gives the same
  loss and parameters with and without the reference, though the same
  model's logits on those candidates differ."""
  graph, arrays, model, params = centred
  config = test_config.get_config()
  mesh = Mesh(np.asarray(jax.devices()[:1]), (parallel.DATA_AXIS,))
  experiment = Experiment(config, mesh)
  queries = graph.queries['train']
  batch = Queries(nodes=queries.nodes[:4].astype(np.int32),
                  relations=queries.relations[:4].astype(np.int32),
                  answers=queries.answers[:4].astype(np.int32),
                  task=np.full(4, TASK_IDS['ea'], np.int32),
                  valid=np.ones(4, bool))
  candidates = np.stack([queries.answers[:4],
                         np.roll(queries.answers[:4], 1)], 1).astype(np.int32)
  train_batch = TrainBatch(queries=batch, candidates=candidates,
                           candidate_valid=np.ones(candidates.shape, bool),
                           edge_weight=arrays.entity.edges['weight'])
  fns = steps.make_steps(model, experiment.optimizer(params), config, mesh)
  plain = arrays._replace(references=np.zeros((0,), np.int32))
  # A fresh state per step: the train step donates it.
  results = [jax.device_get(fns.train(experiment.state(params),
                                      graph_arrays_, train_batch))
             for graph_arrays_ in (arrays, plain)]
  (centred_state, centred_scalars), (plain_state, plain_scalars) = results
  assert centred_scalars['loss'] == plain_scalars['loss']
  chex.assert_trees_all_equal(centred_state.params, plain_state.params)
  side = model.apply({'params': params}, arrays, centre=True,
                     method='graph_side')
  ranked = model.apply({'params': params}, arrays, batch, candidates,
                       side=side, method='rank').logits
  trained = model.apply({'params': params}, arrays, batch, candidates).logits
  assert not np.allclose(ranked, trained)


def test_references_are_seeded_training_queries_of_shared_relation_graphs():
  """EA: training seeds; EL: training mentions; LP (its queries ask many
  relations): none."""
  experiment = Experiment(test_config.get_config())
  graphs = {s.task: experiment.graph(s)
            for s in loading.parse_tasks(experiment.config.tasks)}
  ea, el = graphs['ea'], graphs['el']
  chosen = reference_nodes(ea, 3)
  assert chosen.shape == (3,) and chosen.dtype == np.int32
  assert set(chosen) <= set(ea.seed_pairs[:, 0])
  np.testing.assert_array_equal(chosen, reference_nodes(ea, 3))
  mentions = reference_nodes(el, 3)
  assert mentions.shape == (3,)
  assert set(mentions) <= set(el.queries['train'].nodes)
  assert not set(mentions) & set(el.queries['test'].nodes)
  assert reference_nodes(graphs['lp'], 3).shape == (0,)
  assert reference_nodes(ea, 0).shape == (0,)
  with pytest.raises(ConfigError, match='model.num_references'):
    reference_nodes(ea, len(ea.seed_pairs) + 1)


def test_centred_el_logits_are_the_names_prior_alone():
  """An EL mention has no edge, so its learned terms are the same for
  every mention (a prior over the candidates): centred on a training
  mention they are 0 for every test mention; uncentred they are not."""
  graph, arrays, model, params = _with_reference('el')
  assert arrays.references.shape == arrays.isolated_queries.shape == (1,)
  test = graph.queries['test']
  queries = Queries(nodes=test.nodes[:4].astype(np.int32),
                    relations=test.relations[:4].astype(np.int32),
                    answers=np.zeros(4, np.int32),
                    task=np.full(4, TASK_IDS['el'], np.int32),
                    valid=np.ones(4, bool))
  candidates = np.flatnonzero(graph.candidates)
  for centre in (True, False):
    side = model.apply({'params': params}, arrays, centre=centre,
                       method='graph_side')
    out = model.apply({'params': params}, arrays, queries, side=side,
                      method='rank')
    learned = np.asarray(out.logits - model.terms.names_prior(out.terms))
    assert np.allclose(learned[:, candidates], 0.0, atol=1e-4) == centre


def test_a_query_node_is_no_answer_of_its_own_query_term(setup):
  """Its own cosine would be 1 (an LP query ranking its head first):
  the query term counts it 0, every other node as its cosine."""
  graph, _, arrays, model, params = setup
  queries = _queries('lp')
  terms = model.apply({'params': params}, arrays, queries,
                      method='rank').terms
  loud = jax.tree_util.tree_map(np.array, params)
  loud['router']['base'][:, Terms(MODALITIES).index('text')] = 1.0
  loud['router']['moe']['w_out'][:] = 0.0
  text = np.asarray(model.apply({'params': loud}, arrays, queries,
                                method='rank').terms['text'])
  nodes = np.asarray(queries.nodes)
  np.testing.assert_array_equal(text[np.arange(4), nodes], 0.0)
  unit = graph.features['text'].values
  unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-9)
  unit *= graph.features['text'].present[:, None]
  expected = unit[nodes] @ unit.T
  expected[np.arange(4), nodes] = 0.0
  np.testing.assert_allclose(text[:, :graph.num_nodes], expected, atol=1e-5)
  assert set(terms) == set(Terms(MODALITIES).names)
