"""benchmarks/matching_temperature.py: the temperature sweep of one-to-one
matching on a held-out ranking's saved scores."""

import json
import sys

import numpy as np
import pytest

from conftest import PROJECT

sys.path.insert(0, str(PROJECT / 'benchmarks'))
import matching_temperature  # pylint: disable=g-import-not-at-top,wrong-import-position


def _held_out():
  """Three queries over five candidates: rows 0 and 1 both score
  candidate 2 highest (row 1's answer); candidates 0 and 4 answer no one."""
  scores = np.array([[0.0, 0.1, 0.9, 0.8, 5.0],
                     [0.0, 0.1, 1.0, 0.2, 0.0],
                     [0.0, 0.9, 0.0, 0.1, 0.0]], np.float32)
  columns = np.array([[3], [2], [1]], np.int32)
  return scores, columns


def test_only_the_rows_own_counterparts_stay_as_columns():
  scores, columns = matching_temperature.own_counterparts(*_held_out())
  np.testing.assert_array_equal(scores, _held_out()[0][:, [1, 2, 3]])
  np.testing.assert_array_equal(columns, [[2], [1], [0]])


def test_a_sharp_matching_resolves_what_plain_ranking_cannot():
  result = matching_temperature.sweep(*_held_out(), iterations=50,
                                      temperatures=(1.0, 0.05))
  assert result['plain']['hits@1'] == 2 / 3
  assert result['T=0.05']['hits@1'] == 1.0


def test_the_sweep_is_written_under_the_runs_directory_name(tmp_path):
  scores, columns = _held_out()
  saved = tmp_path / 'run' / 'eval' / 'ea_x.valid.npz'
  saved.parent.mkdir(parents=True)
  np.savez(saved, scores=scores, columns=columns)
  out = tmp_path / 'out.json'
  assert matching_temperature.main([str(saved), '--out', str(out)]) == 0
  found = json.loads(out.read_text())
  assert list(found) == ['run/ea_x.valid.npz iterations=20']
  assert set(found['run/ea_x.valid.npz iterations=20']) == {
      'plain', *(f'T={t}' for t in matching_temperature.TEMPERATURES)}


def test_all_columns_keeps_the_candidates_no_row_answers():
  """As a ranking of a subset matched them: candidate 4 (only row 0 likes
  it) stays, ranking row 0's answer third rather than second."""
  square, every = (
      matching_temperature.sweep(*_held_out(), iterations=50,
                                 temperatures=(0.05,), all_columns=kept)
      for kept in (False, True))
  assert square['plain']['mrr'] == pytest.approx((1 / 2 + 2) / 3)
  assert every['plain']['mrr'] == pytest.approx((1 / 3 + 2) / 3)
  assert every['T=0.05']['mrr'] >= every['plain']['mrr']
