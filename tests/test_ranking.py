"""eval/ranking.py: saved ranks of a long ranking run and their
fingerprint."""

import numpy as np

from configs import test as test_config
from mtaimkg_jax.eval import ranking


def test_saved_ranks_round_trip_and_refuse_another_fingerprint(tmp_path):
  path = str(tmp_path / 'eval' / 'lp_x.test.npz')
  saved = ranking.SavedRanks(path, 'a', every=1e9)
  saved.add(ranks=np.array([1, 2]), weights=np.ones((2, 3), np.float32))
  saved.add(ranks=np.array([5]), weights=np.zeros((1, 3), np.float32))
  saved.save()
  again = ranking.SavedRanks(path, 'a', every=1e9)
  assert again.batches == 2 and again.ranked == 3
  result = again.result()
  np.testing.assert_array_equal(result['ranks'], [1, 2, 5])
  np.testing.assert_array_equal(result['weights'].sum(axis=1), [3, 3, 0])
  other = ranking.SavedRanks(path, 'b', every=1e9)
  assert other.batches == 0 and other.ranked == 0


def test_saved_ranks_save_on_their_own_every_interval(tmp_path):
  path = tmp_path / 'r.npz'
  saved = ranking.SavedRanks(str(path), 'a', every=0.0)
  saved.add(ranks=np.array([3]), weights=np.ones((1, 2), np.float32))
  assert ranking.SavedRanks(str(path), 'a', every=0.0).batches == 1


def test_saved_ranks_of_a_reader_never_write(tmp_path):
  """Processes other than the first read the saved ranks, never write."""
  path = tmp_path / 'r.npz'
  reader = ranking.SavedRanks(str(path), 'a', every=0.0, writes=False)
  reader.add(ranks=np.array([3]), weights=np.ones((1, 2), np.float32))
  reader.save()
  assert not path.exists() and reader.ranked == 1


def test_fingerprint_follows_parameters_and_config():
  config = test_config.get_config()
  params = {'w': np.arange(4, dtype=np.float32)}
  base = ranking.fingerprint(config, params)
  assert ranking.fingerprint(config, {'w': params['w'].copy()}) == base
  changed = {'w': params['w'] + np.float32(1e-6)}
  assert ranking.fingerprint(config, changed) != base
  config.eval.ties = 'pessimistic'
  assert ranking.fingerprint(config, params) != base
