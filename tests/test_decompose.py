"""benchmarks/decompose.py: its prior is the model's cosine term exactly,
its parts add up to the saved scores, and its model row is the run's."""

import sys

import jax
import numpy as np
import pytest

from configs import test as test_config
from conftest import PROJECT
from mtaimkg_jax import checkpoint, train
from mtaimkg_jax.data import loading
from mtaimkg_jax.data.batches import Queries
from mtaimkg_jax.data.graph import TASK_IDS
from mtaimkg_jax.data.padding import choose_budget, graph_arrays
from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.models.model import build_model

sys.path.insert(0, str(PROJECT / 'benchmarks'))
import decompose  # pylint: disable=g-import-not-at-top,wrong-import-position


def _config():
  config = test_config.get_config()
  config.tasks = (('ea', 'ea/synthetic', 1.0),)
  config.features.views = ('neighbours', 'anchors')
  config.eval.sinkhorn_temperature = 1.0
  config.train.num_steps = 8
  return config


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('ea_run'))
  config = _config()
  results = train.train_and_evaluate(config, workdir)
  return config, workdir, results


def test_prior_is_the_model_logits_without_head_and_structure(run):
  config, workdir, _ = run
  params = checkpoint.Checkpoints(workdir, 1, 1000).latest_params()
  silent = jax.tree_util.tree_map(np.array, params)
  silent['head'] = jax.tree_util.tree_map(np.zeros_like, silent['head'])
  silent['structure_gate'] = np.zeros_like(silent['structure_gate'])
  (_, graph), = loading.load_graphs(config)
  model = build_model(config)
  test = graph.queries['test']
  nodes = test.nodes[:8].astype(np.int32)
  queries = Queries(nodes=nodes, relations=test.relations[:8].astype(np.int32),
                    answers=test.answers[:8].astype(np.int32),
                    task=np.full(8, TASK_IDS['ea'], np.int32),
                    valid=np.ones(8, bool))
  candidates = np.flatnonzero(graph.candidates)
  arrays = graph_arrays(graph, choose_budget(graph), config.features.k)
  logits = model.apply({'params': silent}, arrays, queries,
                       np.broadcast_to(candidates, (8, len(candidates))
                                       ).astype(np.int32)).logits
  prior = decompose.cosine_prior(
      graph, model.modalities,
      np.asarray(params['cosine_gate'])[TASK_IDS['ea']], nodes, candidates)
  np.testing.assert_allclose(np.asarray(logits), prior, rtol=1e-4, atol=1e-4)


def test_model_row_is_the_runs_result(run):
  config, workdir, results = run
  out = decompose.decompose(config, workdir)['ea/synthetic']
  for metric in ('hits@1', 'mrr'):
    assert out['model'][metric] == pytest.approx(
        results['ea/synthetic'][metric])
    assert out['model'][f'one_to_one_{metric}'] == pytest.approx(
        results['ea/synthetic:sinkhorn'][metric])
  assert set(out) == {'model', 'prior', 'learned', 'prior + 0.25 learned',
                      'prior + 0.5 learned', 'gates'}
  assert set(out['gates']) == {'text', 'image', 'neighbours', 'anchors'}
  assert out['gates']['anchors'] == pytest.approx(
      0.3 * out['gates']['text'], rel=0.2)


def test_needs_a_checkpoint_and_a_saved_score_matrix(run, tmp_path):
  config, _, _ = run
  with pytest.raises(ConfigError, match='workdir'):
    decompose.decompose(config, str(tmp_path))
  config = _config()
  config.eval.sinkhorn_temperature = 0.0
  other = tmp_path / 'plain'
  train.train_and_evaluate(config, str(other))
  with pytest.raises(ConfigError, match='eval.sinkhorn_temperature'):
    decompose.decompose(config, str(other))
