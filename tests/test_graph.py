"""The one query form: relation graph, union graphs, filters, removal."""

import numpy as np

from mtaimkg_jax.data import graph as graph_lib
from mtaimkg_jax.data.featurize import featurize
from mtaimkg_jax.data.graph import (HEAD_TO_HEAD, HEAD_TO_TAIL, TAIL_TO_HEAD,
                                    TAIL_TO_TAIL)
from mtaimkg_jax.data.mmkg import (EATask, ELTask, Features, LPTask, MMKG,
                                   Mentions, Vocab)


def _kg(name, triples, num_entities, num_relations, features=None):
  triples = np.asarray(triples, np.int64).reshape(-1, 3)
  return MMKG(name=name,
              entities=Vocab([f'{name}{i}' for i in range(num_entities)]),
              relations=Vocab([f'{name}r{i}' for i in range(num_relations)]),
              triples={'train': triples, 'valid': triples[:0],
                       'test': triples[:0]},
              names=[f'{name}{i}' for i in range(num_entities)],
              texts=[''] * num_entities, features=features or {})


def test_relation_graph_of_a_hand_made_graph():
  # a -r0-> b -r1-> c; with inverses r2 = r0⁻¹, r3 = r1⁻¹.
  a, b, c = 0, 1, 2
  edges = graph_lib.with_inverses(np.array([[a, 0, b], [b, 1, c]]), 2)
  np.testing.assert_array_equal(edges, [[a, 0, b], [b, 1, c], [b, 2, a],
                                        [c, 3, b]])
  expected = {
      HEAD_TO_HEAD: {(0, 0), (1, 1), (1, 2), (2, 1), (2, 2), (3, 3)},
      TAIL_TO_TAIL: {(0, 0), (0, 3), (3, 0), (3, 3), (1, 1), (2, 2)},
      HEAD_TO_TAIL: {(0, 2), (1, 0), (1, 3), (2, 0), (2, 3), (3, 1)},
      TAIL_TO_HEAD: {(2, 0), (0, 1), (3, 1), (0, 2), (3, 2), (1, 3)},
  }
  got = graph_lib.build_relation_graph(edges, 4)
  for meta, pairs in expected.items():
    assert {(r1, r2) for r1, m, r2 in got.tolist() if m == meta} == pairs
  assert len(got) == sum(len(p) for p in expected.values())


def test_lp_queries_both_directions_and_filter():
  kg = _kg('e', [[0, 0, 1], [0, 0, 2], [1, 1, 2]], 3, 2)
  kg.triples['test'] = np.array([[0, 0, 1]])
  graph = featurize(graph_lib.build_lp(LPTask('lp/t', kg)), 4)
  q = graph.queries['test']
  np.testing.assert_array_equal(np.stack([q.nodes, q.relations, q.answers], 1),
                                [[0, 0, 1], [1, 2, 0]])
  rows, answers = graph.known.lookup(q.nodes, q.relations)
  assert sorted(answers[rows == 0].tolist()) == [1, 2]  # (0, r0, ?) → 1, 2
  assert answers[rows == 1].tolist() == [0]


def test_ea_union_graph_keeps_test_pairs_out_of_the_edges():
  kg1 = _kg('a', [[0, 0, 1], [1, 0, 2]], 3, 1)
  kg2 = _kg('b', [[0, 0, 1], [2, 1, 0]], 3, 2)
  task = EATask('ea/t', kg1, kg2, train_pairs=np.array([[0, 0]]),
                test_pairs=np.array([[1, 1], [2, 2]]))
  graph = featurize(graph_lib.build_ea(task), 4)
  assert graph.num_nodes == 6 and graph.num_base_relations == 1 + 2 + 1
  same_as = 3
  seed_edges = graph.edges[graph.edges[:, 1] % 4 == same_as]
  assert sorted(map(tuple, seed_edges.tolist())) == [(0, 3, 3), (3, 7, 0)]
  q = graph.queries['test']
  np.testing.assert_array_equal(q.nodes, [1, 2])
  np.testing.assert_array_equal(q.answers, [4, 5])
  assert graph.candidates.tolist() == [False] * 4 + [True, True]
  # Relation vocabularies are kept apart: graph 2's relations are offset.
  inside2 = (graph.edges[:, 0] >= 3) & (graph.edges[:, 2] >= 3)
  assert set(graph.edges[inside2, 1].tolist()) == {1, 2, 5, 6}
  inside1 = (graph.edges[:, 0] < 3) & (graph.edges[:, 2] < 3)
  assert set(graph.edges[inside1, 1].tolist()) == {0, 4}


def test_el_mentions_are_edgeless_nodes_with_own_features():
  kb = _kg('k', [[0, 0, 1]], 2, 1, features={
      'text': Features(np.eye(2, dtype=np.float32), np.ones(2, bool))})
  mentions = Mentions(texts=['m0', 'm1'], answers=np.array([1, 0]),
                      features={'text': Features(
                          np.array([[0, 1], [1, 0]], np.float32),
                          np.ones(2, bool))})
  task = ELTask('el/t', kb, {'train': mentions}, candidates=np.ones(2, bool))
  graph = featurize(graph_lib.build_el(task), 2)
  assert graph.num_nodes == 4
  assert not np.isin(graph.edges[:, [0, 2]], [2, 3]).any()
  q = graph.queries['train']
  np.testing.assert_array_equal(q.nodes, [2, 3])
  np.testing.assert_array_equal(q.answers, [1, 0])
  assert graph.candidates.tolist() == [True, True, False, False]
  # KB and mentions share one encoder → unified jointly: a mention equals
  # its answer's unified vector here.
  text = graph.features['text'].values
  np.testing.assert_allclose(text[2], text[1], atol=1e-6)


def test_removal_edges_find_the_fact_and_its_inverse():
  kg = _kg('e', [[0, 0, 1], [1, 1, 2], [0, 0, 2]], 3, 2)
  graph = featurize(graph_lib.build_lp(LPTask('lp/t', kg)), 4)
  train = graph.queries['train']
  removed = graph_lib.removal_edges(graph, train.take(np.array([0])))
  assert sorted(map(tuple, graph.edges[removed].tolist())) == [(0, 0, 1),
                                                                (1, 2, 0)]
