"""Derived views (data/views.py) and the model reading them: the
neighbours view never uses a queried relation, the surface view reads a
mention's words, the anchors view counts training seed pairs among
neighbours (never a node's own, never a held-out or test pair), absent
views get no weight, and a run with the views trains, ranks, reports its
routing and predicts for a new mention."""

import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from configs import test as test_config
from mtaimkg_jax import api, config_check, train, types
from mtaimkg_jax.data import featurize, features, loading, views
from mtaimkg_jax.data.mmkg import Features
from mtaimkg_jax.data.padding import choose_budget, graph_arrays
from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.models.model import MtaIMKG
from mtaimkg_jax.types import TASK_IDS, Queries


def _config(**feature_keys):
  config = test_config.get_config()
  config.features.views = ('neighbours', 'surface', 'anchors')
  for key, value in feature_keys.items():
    config.features[key] = value
  return config


@pytest.fixture(scope='module')
def graphs():
  return {g.task: g for _, g in loading.load_graphs(_config())}


def test_neighbours_view_of_ea_reads_own_graph_edges_only(graphs):
  graph = graphs['ea']
  text = graph.features['text']
  view = views.neighbour_sums(graph, text.values, text.present)
  same_as = {graph.relation_names.index('same_as'),
             graph.relation_names.index('inverse of same_as')}
  assert set(views.queried_relations(graph)) == same_as
  unit = text.values / np.maximum(
      np.linalg.norm(text.values, axis=1, keepdims=True), 1e-9)
  for node in range(0, graph.num_nodes, 7):
    edges = graph.edges[(graph.edges[:, 0] == node) &
                        ~np.isin(graph.edges[:, 1], sorted(same_as))]
    neighbours = sorted(set(edges[:, 2]) & set(np.flatnonzero(text.present)))
    assert view.present[node] == bool(neighbours)
    expected = unit[neighbours].sum(0) if neighbours else 0.0
    np.testing.assert_allclose(view.values[node], expected, rtol=1e-5,
                               atol=1e-6)
  unified = graph.features['neighbours']
  assert unified.dim == text.dim
  np.testing.assert_array_equal(unified.present, view.present)


def test_surface_view_reads_names_and_mention_surface_forms(graphs):
  el = graphs['el']
  mention = el.queries['test'].nodes[0]
  assert el.node_kind[mention] == types.MENTION
  surface = el.surface_forms[mention]
  # The synthetic mentions' surface is their whole text; real ones read
  # the mention string alone (datasets.load_el_task).
  assert surface == el.node_names[mention]
  expected = views.surface_features([surface])
  unifier = el.unifiers['surface'][0]
  np.testing.assert_allclose(el.features['surface'].values[mention],
                             unifier.apply(expected.values)[0], rtol=1e-5,
                             atol=1e-5)
  # Entity nodes are exactly the knowledge base's (all candidates here).
  np.testing.assert_array_equal(el.node_kind == types.ENTITY, el.candidates)
  for graph in graphs.values():
    assert graph.features['surface'].present.all()


def test_native_view_places_a_name_near_its_translation_in_any_script():
  """The multilingual encoder the `native` view reads (the real model,
  installed with the package): a Chinese or Japanese name is nearer its
  English counterpart than another entity's; empty names are absent."""
  forms = ['金大中', '東京', 'Kim Dae-jung', 'Tokyo', '']
  raw = views.native_features(forms)
  np.testing.assert_array_equal(raw.present, [True] * 4 + [False])
  unit = raw.values / np.maximum(
      np.linalg.norm(raw.values, axis=1, keepdims=True), 1e-9)
  cosine = unit[:2] @ unit[2:4].T
  assert cosine[0, 0] > cosine[0, 1] and cosine[1, 1] > cosine[1, 0]
  config = _config()
  config.features.views = ('native',)
  ea = next(g for _, g in loading.load_graphs(config) if g.task == 'ea')
  assert ea.features['native'].present.all()
  assert ea.unifiers['native'][0] is not None


def test_names_encoded_for_a_view_are_cached_where_the_config_says(tmp_path):
  config = _config(views=('native',))
  config.data.cache_dir = str(tmp_path)
  loading.load_graphs(config)
  assert any(p.name.startswith(f'text-{features.MultilingualEncoder.name}')
             for p in tmp_path.iterdir())


def test_anchors_view_sums_the_codes_of_seed_pairs_among_neighbours(graphs):
  graph = graphs['ea']
  view = views.anchor_codes(graph, dim=64)
  train = graph.queries['train']
  seeds = np.unique(np.stack([train.nodes, train.answers], 1), axis=0)
  codes = np.random.default_rng(0).normal(scale=64 ** -0.5,
                                          size=(len(seeds), 64))
  pair_of = {int(node): i for i, pair in enumerate(seeds) for node in pair}
  same_as = sorted(views.queried_relations(graph))
  for node in range(graph.num_nodes):
    edges = graph.edges[(graph.edges[:, 0] == node) &
                        ~np.isin(graph.edges[:, 1], same_as)]
    pairs = {pair_of[int(t)] for t in edges[:, 2] if int(t) in pair_of}
    pairs.discard(pair_of.get(node))  # a node's own pair never counts
    assert view.present[node] == bool(pairs)
    np.testing.assert_allclose(view.values[node],
                               codes[sorted(pairs)].sum(0), rtol=1e-4,
                               atol=1e-5)
  assert view.present.mean() > 0.25
  for task in ('lp', 'el'):
    assert views.anchor_codes(graphs[task]) is None


def test_anchors_view_reads_only_the_training_seed_pairs(graphs):
  """Held-out pairs choose the learned-term scale and test pairs are
  ranked: neither may be an anchor, or both would be scored on a leak."""
  graph = graphs['ea']
  assert {'valid', 'test'} <= set(graph.queries)
  view = views.anchor_codes(graph, dim=64)
  train_only = dataclasses.replace(
      graph, queries={'train': graph.queries['train']})
  again = views.anchor_codes(train_only, dim=64)
  np.testing.assert_array_equal(view.present, again.present)
  np.testing.assert_array_equal(view.values, again.values)


def test_no_neighbours_view_where_every_relation_is_queried(graphs):
  assert 'neighbours' not in graphs['lp'].features  # LP asks every relation
  el = graphs['el']
  mentions = np.unique(np.concatenate([q.nodes for q in el.queries.values()]))
  assert not el.features['neighbours'].present[mentions].any()


def test_model_routes_over_the_view_and_drops_it_where_absent(graphs):
  model = MtaIMKG(dim=8, num_layers=1, task_dim=4, num_experts=2,
                  expert_hidden=8,
                  modalities=('text', 'image', 'neighbours', 'surface'),
                  names_prior_tasks=(TASK_IDS['ea'], TASK_IDS['el']))
  assert model.terms.names == ('structure', 'text', 'image', 'neighbours',
                          'surface', 'text_relation', 'image_relation',
                          'neighbours_relation', 'surface_relation')
  weights = {}
  for task in ('lp', 'ea'):
    graph = graphs[task]
    arrays = graph_arrays(graph, choose_budget(graph), graph.features[
        'text'].dim)
    queries = Queries(nodes=graph.queries['test'].nodes[:4].astype(np.int32),
                      relations=graph.queries['test'].relations[:4].astype(
                          np.int32),
                      answers=np.zeros(4, np.int32),
                      task=np.full(4, TASK_IDS[task], np.int32),
                      valid=np.ones(4, bool))
    params = model.init(jax.random.PRNGKey(0), arrays, queries,
                        np.zeros((4, 2), np.int32))['params']
    weights[task] = np.asarray(model.apply({'params': params}, arrays,
                                           queries, method='rank').routing)
    np.testing.assert_allclose(weights[task].sum(-1), 1.0, rtol=1e-6)
  view = [model.terms.index('neighbours'),
          model.terms.index('neighbours_relation')]
  assert (weights['lp'][:, view] == 0).all()
  assert (weights['ea'][:, view[0]] > 0).all()
  # EA and EL start from the cosine of names and of neighbours' names.
  base = np.asarray(params['router']['base'])
  names = {m: 1 + i for i, m in enumerate(model.modalities)}
  assert base[TASK_IDS['ea'], names['neighbours']] == base[
      TASK_IDS['ea'], names['text']] > 0
  np.testing.assert_allclose(base[TASK_IDS['el'], names['surface']],
                             0.2 * base[TASK_IDS['el'], names['text']])
  assert base[TASK_IDS['lp'], 1:].max() == 0


def test_default_model_is_unchanged():
  assert MtaIMKG().terms.names == (
      'structure', 'text', 'image', 'text_relation', 'image_relation')


@pytest.mark.parametrize('value', [('names',), ('neighbours', 'neighbours')])
def test_bad_views_name_the_key(value):
  config = _config()
  config.features.views = value
  with pytest.raises(ConfigError, match='features.views'):
    config_check.validate(config)


def test_view_tasks_keep_a_view_to_the_tasks_named():
  config = _config()
  config.features.view_tasks.surface = ('ea', 'el')
  config.features.view_tasks.neighbours = ('ea',)
  config.features.view_tasks.anchors = ('ea',)
  config_check.validate(config)
  got = {g.task: g for _, g in loading.load_graphs(config)}
  assert 'surface' not in got['lp'].features
  assert got['ea'].features['surface'].present.all()
  assert got['el'].features['surface'].present.all()
  assert 'neighbours' in got['ea'].features
  assert 'neighbours' not in got['el'].features
  assert featurize.views_of(config, 'lp') == ()
  assert featurize.views_of(config, 'ea') == ('neighbours', 'surface',
                                          'anchors')


@pytest.mark.parametrize('value', [('ea', 'kg'), ('el', 'el')])
def test_bad_view_tasks_name_the_key(value):
  config = _config()
  config.features.view_tasks.surface = value
  with pytest.raises(ConfigError, match='features.view_tasks.surface'):
    config_check.validate(config)


def test_a_run_with_the_view_trains_and_reports_its_routing(tmp_path,
                                                           monkeypatch):
  config = _config()
  config.train.num_steps = 6
  results = train.train_and_evaluate(config, str(tmp_path))
  assert set(results) == {'lp/synthetic', 'ea/synthetic', 'el/synthetic'}
  with open(os.path.join(tmp_path, 'routing_by_dataset.json')) as f:
    by_dataset = json.load(f)
  ea = by_dataset['ea/synthetic']
  for view in ('neighbours', 'anchors'):
    assert ea[view] > 0 and by_dataset['lp/synthetic'][view] == 0
  assert sum(ea.values()) == pytest.approx(1.0, abs=1e-5)
  # A mention the graph has never seen gets its text and surface views
  # (the synthetic text features come from no encoder: stand one in).
  def encode(_, texts, __):
    rng = np.random.default_rng(0)
    return Features(rng.normal(size=(len(texts), dim)).astype(np.float32),
                    np.ones((len(texts),), bool))

  (_, el), = loading.load_graphs(config, loading.parse_tasks(
      (('el', 'el/synthetic', 1.0),)))
  dim = el.unifiers['text'][-1].mean.shape[0]
  monkeypatch.setattr(featurize, 'make_text_encoder', lambda _: None)
  monkeypatch.setattr(featurize, 'encode_texts', encode)
  predictor = api.Predictor.from_workdir(str(tmp_path))
  assert len(predictor.predict('Zyxwv Qrstu', task='el/synthetic',
                               top_k=3)) == 3
  weights = predictor.routing('Zyxwv Qrstu', task='el/synthetic')
  assert weights['surface'] > 0  # the query has the view
  assert weights['neighbours'] == 0  # an edgeless mention
