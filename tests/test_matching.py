"""eval/matching.py: one-to-one matching of a whole split's scores."""

import jax.numpy as jnp
import numpy as np
import pytest

from mtaimkg_jax import metrics
from mtaimkg_jax.eval import matching
from mtaimkg_jax.types import EvalBatch


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


def test_log_sinkhorn_matches_each_candidate_at_most_once_for_a_subset():
  """Fewer queries than candidates (a subset of a split): rows sum to one,
  columns to at most one, and a candidate no query needs does not take a
  query's answer at a sharp temperature."""
  rng = np.random.default_rng(0)
  scores = rng.normal(size=(4, 9)).astype(np.float32)
  matched = np.exp(np.asarray(metrics.log_sinkhorn(jnp.asarray(scores), 200)))
  np.testing.assert_allclose(matched.sum(axis=1), 1.0, atol=1e-4)
  assert (matched.sum(axis=0) <= 1.0 + 1e-4).all()
  # Each query's answer is its own column, ranked first by both; query 1
  # also likes query 0's answer, and columns 2 and 3 are decoys no query
  # ranks first. Forced to sum to one, each decoy column would go to query
  # 0 whole, above its answer's shared column (ranks [3, 1]).
  decoys = np.array([[2.0, 0.0, 1.0, 1.0], [1.8, 2.0, 0.5, -5.0]],
                    np.float32)
  columns = np.array([[0], [1]], np.int32)
  np.testing.assert_array_equal(
      matching.one_to_one_ranks(decoys, columns, 0.1, 20), [1, 1])


def _batch(answers, valid, exclude):
  queries = np.zeros((len(answers),), np.int32)
  return EvalBatch(queries=queries, answers=np.asarray(answers, np.int32),
                   answer_valid=np.asarray(valid, bool),
                   exclude=np.asarray(exclude, bool),
                   query_ids=np.zeros(np.shape(answers), np.int32))


def test_candidate_scores_filter_known_answers_but_keep_the_rows_own():
  candidates = np.array([2, 5, 7])
  exclude = np.zeros((3, 9), bool)
  exclude[0, [5, 7]] = True  # row 0: answers 5 and 7 both known
  exclude[1, 2] = True  # row 1: node 2 is another query's known answer
  batch = _batch([[5, 7], [7, 0], [0, 0]], [[1, 1], [1, 0], [0, 0]],
                 exclude)
  scores = np.arange(9, dtype=np.float32).reshape(3, 3)
  rows, columns = matching.candidate_scores(scores, batch, candidates)
  np.testing.assert_array_equal(columns, [[1, 2], [2, -1]])
  np.testing.assert_array_equal(rows, [[0, 1, 2], [-np.inf, 4, 5]])
  with pytest.raises(ValueError, match='not an evaluation candidate'):
    matching.candidate_scores(scores, _batch([[3, 0]], [[1, 0]],
                                             exclude[:1]), candidates)


def test_one_to_one_ranks_resolve_a_shared_favourite():
  """Both queries score candidate 0 highest; query 1's answer is 1. Plain
  ranking puts it second; matching gives candidate 0 to query 0."""
  scores = np.array([[5.0, 1.0], [4.0, 3.0]], np.float32)
  columns = np.array([[0], [1]], np.int32)
  np.testing.assert_array_equal(
      matching.one_to_one_ranks(scores, columns, 1.0, 0), [1, 2])
  np.testing.assert_array_equal(
      matching.one_to_one_ranks(scores, columns, 1.0, 20), [1, 1])


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
  got = matching.one_to_one_ranks(scores, columns.astype(np.int32), 1.0, 0)
  np.testing.assert_array_equal(got, expected)
  assert np.any(got != np.floor(got))  # ties were met
