"""The fact gate: the scale of the modality terms is chosen on the graph's
own held-out facts, never on a valid or test split."""

import dataclasses
import json

import chex
import jax
import numpy as np
import pytest

from configs import test as test_config
from mtaimkg_jax import api, checkpoint, parallel
from mtaimkg_jax.data import loading
from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.eval import fact_gate, runner
from mtaimkg_jax.experiment import Experiment, merged_backbone
from mtaimkg_jax.models.terms import Terms


def test_each_modality_is_scaled_alone_and_ties_choose_the_smaller():
  rng = np.random.default_rng(0)
  terms = {name: rng.normal(size=(3, 6)).astype(np.float32)
           for name in ('structure', 'text', 'text_relation', 'image',
                        'image_relation')}
  answers = np.array([0, 2, 5])
  exclude = np.zeros((3, 6), bool)
  modalities = {'text': ('text', 'text_relation'),
                'image': ('image', 'image_relation')}
  as_trained, ranks = fact_gate.gate_ranks(terms, modalities, answers,
                                           exclude, np.ones(6, bool),
                                           'realistic')
  assert set(ranks) == {'text', 'image'}
  assert set(ranks['text']) == set(fact_gate.SCALES)
  # Text at 0: structure and image alone rank the answers.
  kept = terms['structure'] + terms['image'] + terms['image_relation']
  expected = 1 + (kept > kept[np.arange(3), answers][:, None]).sum(axis=1)
  np.testing.assert_array_equal(ranks['text'][0.0], expected)
  np.testing.assert_array_equal(ranks['text'][1.0], ranks['image'][1.0])
  np.testing.assert_array_equal(ranks['text'][1.0], as_trained)
  # One standard error: a gain the sample cannot tell from noise is not
  # taken; a clear one is, at the smallest scale that keeps it.
  rng = np.random.default_rng(1)
  noise = {s: rng.random(200) for s in fact_gate.SCALES}
  assert fact_gate.choose(noise) == 0.0
  base = rng.random(200)
  clear = {0.0: base, 0.25: base + 0.2, 0.5: base + 0.3, 1.0: base + 0.3}
  assert fact_gate.choose(clear) == 0.5
  scales = fact_gate.term_scales(Terms(('text', 'image')), {
      'scales': {'text': 0.25, 'image': 1.0}})
  np.testing.assert_array_equal(scales, [1, 0.25, 1, 0.25, 1])


def _gate(config, dataset_graph):
  experiment = Experiment(config)
  spec = loading.TaskSpec('lp', 'lp/synthetic', 1.0)
  experiment._graphs[spec.dataset] = dataset_graph  # pylint: disable=protected-access
  prepared = experiment.prepare(spec)
  params = jax.tree_util.tree_map(np.array, experiment.init_params(prepared))
  # A model that leans on its text: the LP text weight moved off 0.
  params['router']['base'][0, experiment.terms.index('text')] = 1.0
  return fact_gate.read_gates(
      experiment.model, {1.0: parallel.replicate(params, experiment.mesh)},
      prepared, config, experiment.mesh)[1.0]


def test_the_gate_reads_the_fact_graph_only():
  """Other valid and test queries, the same facts: the same gate."""
  config = test_config.get_config()
  config.tasks = (('lp', 'lp/synthetic', 1.0),)
  config.eval.gate_queries = 32
  graph = loading.load_graph(config, loading.parse_tasks(config.tasks)[0])
  shuffled = dataclasses.replace(graph, queries={
      split: queries.take(np.random.default_rng(1).permutation(
          len(queries))[:len(queries) // 2])
      for split, queries in graph.queries.items()})
  first, second = _gate(config, graph), _gate(config, shuffled)
  assert first == second
  assert set(first['scales']) == {'text', 'image'}
  assert set(first['scales'].values()) <= set(fact_gate.SCALES)
  assert first['queries'] == 32
  assert jax.tree_util.tree_leaves(first['mrr'])


def test_a_merged_backbone_lies_between_its_ends():
  trained = {'w': np.full((2, 3), 4.0, np.float32), 'b': np.ones(3)}
  initial = {'w': np.zeros((2, 3), np.float64), 'b': np.full(3, 3.0)}
  chex.assert_trees_all_equal(merged_backbone(trained, initial, 1.0), trained)
  chex.assert_trees_all_close(merged_backbone(trained, initial, 0.0),
                              initial)
  half = merged_backbone(trained, initial, 0.5)
  chex.assert_trees_all_close(half, {'w': np.full((2, 3), 2.0),
                                     'b': np.full(3, 2.0)})
  assert half['w'].dtype == np.float32


def test_the_backbone_with_the_best_sample_wins_and_ties_keep_the_first():
  def gate(as_trained, text):
    return {'mrr_as_trained': as_trained,
            'mrr': {'text': {'0': text, '1': as_trained}}}
  assert fact_gate.best_mrr(gate(0.3, 0.4)) == 0.4
  assert fact_gate.choose_backbone({1.0: gate(0.3, 0.4),
                                    0.5: gate(0.45, 0.1)}) == 0.5
  assert fact_gate.choose_backbone({1.0: gate(0.3, 0.4),
                                    0.5: gate(0.4, 0.2)}) == 1.0


def _merge_run(config, params, workdir):
  experiment = Experiment(config)
  runner.check(experiment)
  return runner.evaluate(experiment,
                         parallel.replicate(params, experiment.mesh),
                         workdir)


def _two_backbones(tmp_path):
  """An LP config with the fact gate choosing between a model's backbone
  (merge 1) and another one it "started from" (merge 0), and the model's
  parameters."""
  config = test_config.get_config()
  config.tasks = (('lp', 'lp/synthetic', 1.0),)
  config.model.fact_gate = True
  config.eval.gate_queries = 32
  experiment = Experiment(config)
  prepared = experiment.prepare(experiment.train_specs[0])
  params = experiment.init_params(prepared)
  other = Experiment(config.copy_and_resolve_references())
  other.config.seed = 7
  start = str(tmp_path / 'start')
  checkpoint.save_params(start, other.init_params(prepared)['backbone'])
  config.model.init_checkpoint = start
  config.model.backbone_merges = (1.0, 0.0)
  return config, params


def test_each_graph_ranks_with_the_backbone_its_facts_chose(tmp_path):
  """Two backbones: the gate is read with each, the choice is recorded,
  and the graph ranks exactly as with the chosen backbone alone, not as
  with the other."""
  config, params = _two_backbones(tmp_path)
  both = _merge_run(config, params, str(tmp_path / 'both'))
  with open(tmp_path / 'both' / 'evidence.json') as f:
    gate = json.load(f)['lp/synthetic']['fact_gate']
  mrr = gate['backbone_mrr']
  assert set(mrr) == {'1', '0'} and mrr['1'] != mrr['0']
  chosen = 1.0 if mrr['1'] > mrr['0'] else 0.0
  ranked = {}
  for alone in (1.0, 0.0):
    config.model.backbone_merges = (alone,)
    ranked[alone] = _merge_run(config, params, str(tmp_path / f'{alone}'))[
        'lp/synthetic']['mrr']
  assert ranked[1.0] != ranked[0.0]
  assert both['lp/synthetic']['mrr'] == ranked[chosen]
  record, = (tmp_path / 'both' / 'records').rglob('*.json')
  assert json.loads(record.read_text())['backbone_merge'] == chosen


def test_a_prediction_ranks_as_evaluation_does(tmp_path, monkeypatch):
  """`api.Predictor` reads the same gate and ranks with the same backbone
  as evaluation: its scores are those of the chosen backbone alone, with
  the scales the gate chose, and not those of the other backbone."""
  config, params = _two_backbones(tmp_path)
  _merge_run(config, params, str(tmp_path / 'eval'))
  with open(tmp_path / 'eval' / 'evidence.json') as f:
    evaluated = json.load(f)['lp/synthetic']['fact_gate']
  monkeypatch.setattr(Experiment, 'params_of', lambda self, _: (
      parallel.replicate(params, self.mesh)))

  def predicted(merges):
    config.model.backbone_merges = merges
    predictor = api.Predictor(Experiment(config), init=None)
    graph = predictor.experiment.prepare(
        predictor.experiment.eval_specs[0]).graph
    test = graph.queries['test']
    query = (f'{graph.node_names[test.nodes[0]]}|'
             f'{graph.relation_names[test.relations[0]]}|?')
    answers = predictor.predict(query, top_k=5)
    _, _, gate = predictor._ranked['lp/synthetic']  # pylint: disable=protected-access
    return [(a['id'], a['score']) for a in answers], gate

  both, gate = predicted((1.0, 0.0))
  assert gate['scales'] == evaluated['scales']
  assert gate['backbone_mrr'] == evaluated['backbone_mrr']
  chosen = max((1.0, 0.0), key=lambda w: gate['backbone_mrr'][f'{w:g}'])
  alone, alone_gate = predicted((chosen,))
  other, _ = predicted((1.0 - chosen,))
  assert alone_gate['scales'] == gate['scales']
  np.testing.assert_allclose([s for _, s in both], [s for _, s in alone],
                             rtol=1e-5)
  assert [i for i, _ in both] == [i for i, _ in alone]
  assert [s for _, s in both] != [s for _, s in other]


def test_a_merge_that_cannot_run_is_refused_before_ranking():
  """Without the initial weights, or without the gate that chooses."""
  config = test_config.get_config()
  config.tasks = (('lp', 'lp/synthetic', 1.0),)
  config.model.fact_gate = True
  config.model.backbone_merges = (1.0, 0.5)
  config.model.init_checkpoint = '/nonexistent/ultra.pth'
  with pytest.raises(ConfigError, match='model.backbone_merges.*no such'):
    runner.check(Experiment(config))
  config.model.fact_gate = False
  config.model.init_checkpoint = ''
  with pytest.raises(ConfigError, match='model.fact_gate'):
    runner.check(Experiment(config))
