"""The throughput benchmark runs on a tiny graph and writes well-formed JSON;
the PyTorch reference agrees with JAX; a training run compiles its train
step once per padding budget."""
# Tests reach into private helpers on purpose.
# pylint: disable=protected-access

import json
import sys

import numpy as np
import pytest

from configs import test as test_config
from mtaimkg_jax import parallel, steps, train
from mtaimkg_jax.experiment import Experiment

sys.path.insert(0, str(__import__('pathlib').Path(__file__).parents[1]))
from benchmarks import throughput  # pylint: disable=g-import-not-at-top


def test_benchmark_on_a_tiny_graph(tmp_path):
  pytest.importorskip('torch')
  out = tmp_path / 'tp.json'
  report = throughput.main([
      '--graph', 'lp/synthetic', '--batch', '4', '--dim', '8', '--layers',
      '2', '--negatives', '8', '--repeats', '2', '--feature-dim', '8',
      '--ranking-queries', '16', '--json', str(out),
      '--plot', str(tmp_path / 'tp.png')])
  on_disk = json.loads(out.read_text())
  assert on_disk == json.loads(json.dumps(report))
  for key in ('jax', 'torch', 'ratio', 'roofline_fraction', 'compiles'):
    assert key in on_disk
  assert set(on_disk['ratio']) == {'fwd', 'train'}
  assert on_disk['roofline_fraction']['fwd'] > 0
  # Checked before timing: the reference computes the same states.
  assert on_disk['torch']['max_relative_difference_to_jax'] < 1e-4
  assert on_disk['compiles'] == 5  # one per measured function
  assert on_disk['model_over_entity_train_step'] > 0
  assert on_disk['ranking']['queries'] == 16
  assert on_disk['ranking']['full_over_structure'] == pytest.approx(
      on_disk['ranking']['full_seconds'] /
      on_disk['ranking']['structure_seconds'])
  assert (tmp_path / 'tp.png').stat().st_size > 1000


def test_train_step_compiles_once_per_budget():
  config = test_config.get_config()
  config.tasks = (('lp', 'lp/synthetic', 1.0), ('el', 'el/synthetic', 1.0))
  experiment = Experiment(config)
  mesh = experiment.mesh
  prepared = [experiment.prepare(spec) for spec in experiment.train_specs]
  assert prepared[0].budget != prepared[1].budget
  params = experiment.init_params(prepared[0])
  state = experiment.state(params)
  fns = steps.make_steps(experiment.model, experiment.optimizer(params),
                         config, mesh)
  mixture = train.Mixture([train.sampler(config, p) for p in prepared],
                          [1.0, 1.0], config.seed, 12)
  seen = set()
  for step in range(12):
    task, batch = mixture.batch(step)
    seen.add(task)
    state, _ = fns.train(state, prepared[task].arrays,
                         parallel.device_batch(batch, mesh,
                                               config.train.batch_size,
                                               ('edge_weight',)))
  assert seen == {0, 1}
  assert fns.train._cache_size() == 2
  assert int(np.asarray(state.step)) == 12
