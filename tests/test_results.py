"""eval/results.py: metrics and their breakdowns (direction, relation, shared
names)."""

import numpy as np
import pytest

from mtaimkg_jax.data.featurize import featurize
from mtaimkg_jax.data.graph import QuerySet, build_el, build_lp
from mtaimkg_jax.data.mmkg import ELTask, LPTask, MMKG, Mentions, Vocab
from mtaimkg_jax.eval import results


def _graph():
  kg = MMKG(name='g', entities=Vocab(['a', 'b', 'c']),
            relations=Vocab(['likes', 'knows']),
            triples={'train': np.array([[0, 0, 1], [1, 1, 2]]),
                     'valid': np.zeros((0, 3), np.int64),
                     'test': np.array([[0, 0, 2], [2, 1, 0]])},
            names=['a', 'b', 'c'], texts=['', '', ''])
  return featurize(build_lp(LPTask(key='lp/g', kg=kg)), 4)


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


def test_breakdown_by_shared_answer_name():
  # KB: two entities named "Paris" (case and spaces folded), one "Rome",
  # and a non-candidate attribute node also named "Rome".
  names = ['Paris', ' paris', 'Rome', 'Rome']
  kb = MMKG(name='kb', entities=Vocab(['p1', 'p2', 'r', 'v']),
            relations=Vocab(['in']),
            triples={'train': np.array([[0, 0, 2]]),
                     'valid': np.zeros((0, 3), np.int64),
                     'test': np.zeros((0, 3), np.int64)},
            names=names, texts=names)
  mentions = Mentions(texts=['m0', 'm1', 'm2'], answers=np.array([0, 2, 1]))
  graph = build_el(ELTask('el/t', kb, {'test': mentions},
                          candidates=np.array([True, True, True, False])))
  np.testing.assert_array_equal(
      results.shared_name(graph, np.array([0, 1, 2])), [True, True, False])
  out = results.breakdown(np.array([2.0, 1.0, 4.0]), np.array([0, 1, 2]),
                          graph, 'test', ('shared_name',))
  assert out['by_shared_name']['shared']['count'] == 2
  assert out['by_shared_name']['shared']['mrr'] == pytest.approx(
      (1 / 2 + 1 / 4) / 2)
  assert out['by_shared_name']['unique']['mrr'] == 1.0
  # LP queries do not name their answer: no such breakdown.
  assert results.breakdown(np.array([1.0]), np.array([0]), _graph(), 'test',
                           ('shared_name',)) == {}
