"""benchmarks/decompose.py: its model row is the run's (EA and EL), and it
refuses a workdir without a checkpoint or a saved score matrix."""

import sys

import numpy as np
import pytest

from conftest import PROJECT, ea_el_run_config
from mtaimkg_jax import train
from mtaimkg_jax.errors import ConfigError

sys.path.insert(0, str(PROJECT / 'benchmarks'))
import decompose  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_model_row_is_the_runs_result(ea_el_run):
  config, workdir, results = ea_el_run
  both = decompose.decompose(config, workdir)
  out = both['ea/synthetic']
  for metric in ('hits@1', 'mrr'):
    assert out['model'][metric] == pytest.approx(
        results['ea/synthetic'][metric])
    assert out['model'][f'one_to_one_{metric}'] == pytest.approx(
        results['ea/synthetic:sinkhorn'][metric])
  assert set(out) == {'model', 'prior', 'learned', 'prior + 0.25 learned',
                      'prior + 0.5 learned', decompose.WITHOUT_BIAS,
                      decompose.WITHOUT_ONE_QUERY, 'gates',
                      'learned variance per candidate', 'most top-1'}
  assert 0.0 <= out['learned variance per candidate'] <= 1.0
  assert set(out['gates']) == {'text', 'image', 'neighbours', 'anchors'}
  assert out['gates']['anchors'] == pytest.approx(
      0.3 * out['gates']['text'], rel=0.2)
  # EL (its scores saved by the calibration): plain ranking only.
  el = both['el/synthetic']
  for metric in ('hits@1', 'mrr'):
    assert el['model'][metric] == pytest.approx(
        results['el/synthetic'][metric])
  assert 'one_to_one_mrr' not in el['model']


def test_needs_a_checkpoint_and_a_saved_score_matrix(ea_el_run, tmp_path):
  config, _, _ = ea_el_run
  with pytest.raises(ConfigError, match='workdir'):
    decompose.decompose(config, str(tmp_path))
  config = ea_el_run_config()
  config.eval.sinkhorn_temperature = 0.0
  config.eval.calibrate_learned_scale = False
  other = tmp_path / 'plain'
  train.train_and_evaluate(config, str(other))
  with pytest.raises(ConfigError, match='eval.calibrate_learned_scale'):
    decompose.decompose(config, str(other))


def test_candidate_bias_is_the_part_every_query_gives_a_candidate():
  rng = np.random.default_rng(0)
  hub = rng.normal(size=(50,)).astype(np.float32) * 3
  learned = hub + 0.1 * rng.normal(size=(40, 50)).astype(np.float32)
  learned[3, 7] = -np.inf  # a candidate this query may not rank
  bias, explained = decompose.candidate_bias(learned)
  np.testing.assert_allclose(bias, hub, atol=0.1)
  assert explained > 0.99
  # Query-specific terms only: no candidate part to explain.
  _, none = decompose.candidate_bias(rng.normal(size=(400, 50)))
  assert none < 0.05
  scores = np.zeros((5, 4), np.float32)
  scores[:, 2] = 1.0
  scores[4, 1] = 2.0
  assert decompose.most_top1(scores) == 4
