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


def test_scale_zero_ranks_by_structure_and_ties_choose_the_smaller():
  rng = np.random.default_rng(0)
  structure = rng.normal(size=(3, 6)).astype(np.float32)
  modality = rng.normal(size=(3, 6)).astype(np.float32)
  answers = np.array([0, 2, 5])
  exclude = np.zeros((3, 6), bool)
  ranks = fact_gate.gate_ranks(structure, modality, answers, exclude,
                               np.ones(6, bool), 'realistic')
  assert set(ranks) == set(fact_gate.SCALES)
  by_structure = 1 + (structure > structure[np.arange(3), answers][:, None]
                      ).sum(axis=1)
  np.testing.assert_array_equal(ranks[0.0], by_structure)
  assert fact_gate.choose({s: 0.5 for s in fact_gate.SCALES}) == 0.0
  assert fact_gate.choose({0.0: 0.1, 0.25: 0.3, 0.5: 0.3, 1.0: 0.2}) == 0.25


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
  assert first['scale'] in fact_gate.SCALES and first['queries'] == 32
  assert jax.tree_util.tree_leaves(first['mrr'])
