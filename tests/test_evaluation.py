"""evaluation.py: progress logs of a long ranking run, saved ranks and
their fingerprint."""

import logging

import numpy as np
from absl import logging as absl_logging

from configs import test as test_config
from mtaimkg_jax import evaluation
from mtaimkg_jax.data import loading


def test_progress_logs_counts_rate_and_total(caplog):
  (_, graph), = loading.load_graphs(test_config.get_config())[:1]
  total = len(graph.queries['test'])
  absl_logging.get_absl_logger().propagate = True
  with caplog.at_level(logging.INFO):
    progress = evaluation.Progress(graph, 'test', every=0.0)
    progress.update(1)
    progress.update(total - 1)
    progress.finish()
  messages = [r.getMessage() for r in caplog.records]
  assert any(f'1/{total} queries ranked' in m and 'ETA' in m
             for m in messages), messages
  assert not any(f'{total}/{total}' in m for m in messages)
  assert any(f'{graph.key}/test: {total} queries ranked in' in m
             for m in messages)


def test_saved_ranks_round_trip_and_refuse_another_fingerprint(tmp_path):
  path = str(tmp_path / 'eval' / 'lp_x.test.npz')
  saved = evaluation.SavedRanks(path, 'a', every=1e9)
  saved.add(np.array([1, 2]), np.ones((2, 3), np.float32))
  saved.add(np.array([5]), np.zeros((1, 3), np.float32))
  saved.save()
  again = evaluation.SavedRanks(path, 'a', every=1e9)
  assert again.batches == 2 and again.ranked == 3
  ranks, weights = again.result()
  np.testing.assert_array_equal(ranks, [1, 2, 5])
  np.testing.assert_array_equal(weights.sum(axis=1), [3, 3, 0])
  other = evaluation.SavedRanks(path, 'b', every=1e9)
  assert other.batches == 0 and not other.ranks


def test_saved_ranks_save_on_their_own_every_interval(tmp_path):
  path = tmp_path / 'r.npz'
  saved = evaluation.SavedRanks(str(path), 'a', every=0.0)
  saved.add(np.array([3]), np.ones((1, 2), np.float32))
  assert evaluation.SavedRanks(str(path), 'a', every=0.0).batches == 1


def test_saved_ranks_of_a_reader_never_write(tmp_path):
  """Processes other than the first read the saved ranks, never write."""
  path = tmp_path / 'r.npz'
  reader = evaluation.SavedRanks(str(path), 'a', every=0.0, writes=False)
  reader.add(np.array([3]), np.ones((1, 2), np.float32))
  reader.save()
  assert not path.exists() and reader.ranked == 1


def test_fingerprint_follows_parameters_and_config():
  config = test_config.get_config()
  params = {'w': np.arange(4, dtype=np.float32)}
  base = evaluation.fingerprint(config, params)
  assert evaluation.fingerprint(config, {'w': params['w'].copy()}) == base
  changed = {'w': params['w'] + np.float32(1e-6)}
  assert evaluation.fingerprint(config, changed) != base
  config.eval.ties = 'pessimistic'
  assert evaluation.fingerprint(config, params) != base
