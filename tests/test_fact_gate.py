"""The fact gate: the scale of the modality terms is chosen on the graph's
own held-out facts, never on a valid or test split."""

import dataclasses

import jax
import numpy as np

from configs import test as test_config
from mtaimkg_jax import parallel
from mtaimkg_jax.data import loading
from mtaimkg_jax.eval import fact_gate
from mtaimkg_jax.experiment import Experiment
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
  ranks = fact_gate.gate_ranks(terms, modalities, answers, exclude,
                               np.ones(6, bool), 'realistic')
  assert set(ranks) == {'text', 'image'}
  assert set(ranks['text']) == set(fact_gate.SCALES)
  # Text at 0: structure and image alone rank the answers.
  kept = terms['structure'] + terms['image'] + terms['image_relation']
  expected = 1 + (kept > kept[np.arange(3), answers][:, None]).sum(axis=1)
  np.testing.assert_array_equal(ranks['text'][0.0], expected)
  np.testing.assert_array_equal(ranks['text'][1.0], ranks['image'][1.0])
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
  return fact_gate.read_gate(experiment.model,
                             parallel.replicate(params, experiment.mesh),
                             prepared, config, experiment.mesh)


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
