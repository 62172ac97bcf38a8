"""eval/results.py: metrics and their breakdown by direction and relation."""

import numpy as np
import pytest

from mtaimkg_jax.data.graph import QuerySet, build_lp
from mtaimkg_jax.data.mmkg import LPTask, MMKG, Vocab
from mtaimkg_jax.eval import results


def _graph():
  kg = MMKG(name='g', entities=Vocab(['a', 'b', 'c']),
            relations=Vocab(['likes', 'knows']),
            triples={'train': np.array([[0, 0, 1], [1, 1, 2]]),
                     'valid': np.zeros((0, 3), np.int64),
                     'test': np.array([[0, 0, 2], [2, 1, 0]])},
            names=['a', 'b', 'c'], texts=['', '', ''])
  return build_lp(LPTask(key='lp/g', kg=kg), k=4)


def test_breakdown_by_direction_and_relation():
  graph = _graph()
  test = graph.queries['test']
  # Queries: (0, likes, 2), (2, knows, 0), then their inverses.
  assert list(test.relations) == [0, 1, 2, 3]
  ranks = np.array([1.0, 2.0, 4.0, 8.0])
  query_ids = np.array([3, 0, 1, 2])  # ranks in another order than queries
  out = results.breakdown(ranks, query_ids, graph, 'test',
                          ('direction', 'relation'))
  assert out['by_direction']['tail']['mrr'] == pytest.approx((1 / 2 + 1 / 4) /
                                                             2)
  assert out['by_direction']['head']['mrr'] == pytest.approx((1 + 1 / 8) / 2)
  assert out['by_relation']['likes']['count'] == 2
  assert out['by_relation']['likes']['mrr'] == pytest.approx((1 / 2 + 1 / 8) /
                                                             2)
  assert set(out['by_relation']) == {'likes', 'knows'}
  assert results.breakdown(ranks, query_ids, graph, 'test', ()) == {}


def test_one_direction_has_no_direction_breakdown():
  graph = _graph()
  graph.queries['tails'] = QuerySet(np.array([0]), np.array([0]),
                                    np.array([2]))
  out = results.breakdown(np.array([3.0]), np.array([0]), graph, 'tails',
                          ('direction',))
  assert out == {}
