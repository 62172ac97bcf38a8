"""evaluation.py: progress logs of a long ranking run, saved ranks and
their fingerprint."""

import logging

import jax.numpy as jnp
import numpy as np
import pytest
from absl import logging as absl_logging

from configs import test as test_config
from mtaimkg_jax import evaluation, metrics
from mtaimkg_jax.data import loading
from mtaimkg_jax.data.batches import EvalBatch


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
  saved.add(ranks=np.array([1, 2]), weights=np.ones((2, 3), np.float32))
  saved.add(ranks=np.array([5]), weights=np.zeros((1, 3), np.float32))
  saved.save()
  again = evaluation.SavedRanks(path, 'a', every=1e9)
  assert again.batches == 2 and again.ranked == 3
  result = again.result()
  np.testing.assert_array_equal(result['ranks'], [1, 2, 5])
  np.testing.assert_array_equal(result['weights'].sum(axis=1), [3, 3, 0])
  other = evaluation.SavedRanks(path, 'b', every=1e9)
  assert other.batches == 0 and other.ranked == 0


def test_saved_ranks_save_on_their_own_every_interval(tmp_path):
  path = tmp_path / 'r.npz'
  saved = evaluation.SavedRanks(str(path), 'a', every=0.0)
  saved.add(ranks=np.array([3]), weights=np.ones((1, 2), np.float32))
  assert evaluation.SavedRanks(str(path), 'a', every=0.0).batches == 1


def test_saved_ranks_of_a_reader_never_write(tmp_path):
  """Processes other than the first read the saved ranks, never write."""
  path = tmp_path / 'r.npz'
  reader = evaluation.SavedRanks(str(path), 'a', every=0.0, writes=False)
  reader.add(ranks=np.array([3]), weights=np.ones((1, 2), np.float32))
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


def test_log_sinkhorn_makes_rows_and_columns_sum_to_one():
  rng = np.random.default_rng(0)
  scores = rng.normal(size=(6, 6)).astype(np.float32)
  scores[0, 3] = -np.inf
  matched = np.exp(np.asarray(metrics.log_sinkhorn(jnp.asarray(scores), 200)))
  np.testing.assert_allclose(matched.sum(axis=0), 1.0, atol=1e-4)
  np.testing.assert_allclose(matched.sum(axis=1), 1.0, atol=1e-4)
  assert matched[0, 3] == 0.0
  # No iterations: unchanged.
  np.testing.assert_array_equal(
      np.asarray(metrics.log_sinkhorn(jnp.asarray(scores), 0)), scores)


def _batch(answers, valid, exclude):
  queries = np.zeros((len(answers),), np.int32)
  return EvalBatch(queries=queries, answers=np.asarray(answers, np.int32),
                   answer_valid=np.asarray(valid, bool),
                   exclude=np.asarray(exclude, bool))


def test_candidate_scores_filter_known_answers_but_keep_the_rows_own():
  candidates = np.array([2, 5, 7])
  exclude = np.zeros((3, 9), bool)
  exclude[0, [5, 7]] = True  # row 0: answers 5 and 7 both known
  exclude[1, 2] = True  # row 1: node 2 is another query's known answer
  batch = _batch([[5, 7], [7, 0], [0, 0]], [[1, 1], [1, 0], [0, 0]],
                 exclude)
  scores = np.arange(9, dtype=np.float32).reshape(3, 3)
  rows, columns = evaluation.candidate_scores(scores, batch, candidates)
  np.testing.assert_array_equal(columns, [[1, 2], [2, -1]])
  np.testing.assert_array_equal(rows, [[0, 1, 2], [-np.inf, 4, 5]])
  with pytest.raises(ValueError, match='not an evaluation candidate'):
    evaluation.candidate_scores(scores, _batch([[3, 0]], [[1, 0]],
                                               exclude[:1]), candidates)


def test_one_to_one_ranks_resolve_a_shared_favourite():
  """Both queries score candidate 0 highest; query 1's answer is 1. Plain
  ranking puts it second; matching gives candidate 0 to query 0."""
  scores = np.array([[5.0, 1.0], [4.0, 3.0]], np.float32)
  columns = np.array([[0], [1]], np.int32)
  np.testing.assert_array_equal(
      evaluation.one_to_one_ranks(scores, columns, 1.0, 0), [1, 2])
  np.testing.assert_array_equal(
      evaluation.one_to_one_ranks(scores, columns, 1.0, 20), [1, 1])


def test_one_to_one_ranks_without_iterations_equal_filtered_ranks():
  """Zero iterations = the plain filtered ranks, in the same answer order
  (several answers per row, -inf entries filtered, ties realistic)."""
  rng = np.random.default_rng(1)
  scores = rng.integers(0, 4, size=(300, 40)).astype(np.float32)
  scores[rng.random(scores.shape) < 0.2] = -np.inf
  columns = np.stack([np.arange(300) % 40, (np.arange(300) + 7) % 40], 1)
  columns[::3, 1] = -1
  rows = np.arange(300)
  scores[rows, columns[:, 0]] = 1.0
  scores[rows[columns[:, 1] >= 0], columns[columns[:, 1] >= 0, 1]] = 2.0
  valid = columns >= 0
  exclude = ~np.isfinite(scores)
  exclude[rows[:, None].repeat(2, 1)[valid], columns[valid]] = True
  expected = np.asarray(metrics.filtered_ranks(
      jnp.asarray(scores), jnp.asarray(columns.clip(0)), jnp.asarray(exclude),
      jnp.ones((40,), bool)))[valid]
  got = evaluation.one_to_one_ranks(scores, columns.astype(np.int32), 1.0, 0)
  np.testing.assert_array_equal(got, expected)
  assert np.any(got != np.floor(got))  # ties were met
