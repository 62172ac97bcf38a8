"""Static shapes: buckets, budgets, masks; padding changes no metric."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtaimkg_jax import metrics
from mtaimkg_jax.data import jraph_utils, padding
from mtaimkg_jax.data.batches import (TrainSampler, answers_per_row,
                                      eval_batches, group_answers,
                                      known_mask, pad_queries)
from mtaimkg_jax.data.featurize import featurize
from mtaimkg_jax.data.graph import QuerySet, build_lp
from mtaimkg_jax.data.mmkg import LPTask, MMKG, Vocab
from mtaimkg_jax.errors import BudgetError


def _graph(num_entities=30, seed=0):
  rng = np.random.default_rng(seed)
  triples = np.unique(np.stack([rng.integers(0, num_entities, 80),
                                rng.integers(0, 3, 80),
                                rng.integers(0, num_entities, 80)], 1), axis=0)
  kg = MMKG('g', Vocab([str(i) for i in range(num_entities)]),
            Vocab(['a', 'b', 'c']),
            {'train': triples[10:], 'valid': triples[:5],
             'test': triples[5:10]}, [str(i) for i in range(num_entities)],
            [''] * num_entities)
  return featurize(build_lp(LPTask('lp/g', kg)), 4)


def test_buckets_are_few_and_tight():
  assert padding.bucket(1) == 8
  for size in (9, 100, 1000, 12345, 10**6):
    b = padding.bucket(size)
    assert size <= b <= 1.25 * size + 1
  assert len({padding.bucket(s) for s in range(1000, 2001)}) <= 5


def test_configured_budgets_pick_smallest_and_error_names_the_need():
  graph = _graph()
  need = padding.required_budget(graph)
  small = padding.Budget(8, 8, 8, 8)
  big = padding.Budget(need.nodes + 5, need.edges + 5, need.relations,
                       need.relation_edges)
  bigger = padding.Budget(need.nodes + 50, need.edges + 50,
                          need.relations + 5, need.relation_edges + 5)
  assert padding.choose_budget(graph, [bigger, big, small]) == big
  with pytest.raises(BudgetError, match=f'nodes={need.nodes}'):
    padding.choose_budget(graph, [small])


def test_arrays_masks():
  graph = _graph()
  budget = padding.choose_budget(graph)
  arrays = padding.graph_arrays(graph, budget, 4)
  real = arrays.entity.nodes['real']
  assert real.shape == (budget.nodes,) and real.sum() == graph.num_nodes
  weight = arrays.entity.edges['weight']
  assert weight.shape == (budget.edges,) and weight.sum() == graph.num_edges
  # Padding edges stay among padding nodes.
  pad = weight == 0
  assert (arrays.entity.senders[pad] >= graph.num_nodes).all()
  assert (arrays.entity.receivers[pad] >= graph.num_nodes).all()
  assert arrays.relation.nodes['real'].sum() == graph.num_relations


def test_jraph_wrappers():
  g = jraph_utils.graph([0, 1, 3], [1, 2, 4], 5,
                        nodes={'x': np.ones((5, 1), np.float32)},
                        edges={'t': np.array([1, 2, 3], np.int32)})
  padded = jraph_utils.pad(g, 8, 6)
  np.testing.assert_array_equal(jraph_utils.node_mask(padded),
                                [1, 1, 1, 1, 1, 0, 0, 0])
  np.testing.assert_array_equal(jraph_utils.edge_mask(padded),
                                [1, 1, 1, 0, 0, 0])
  np.testing.assert_array_equal(padded.edges['t'], [1, 2, 3, 0, 0, 0])
  # Padding edges join padding nodes only.
  assert (padded.senders[3:] >= 5).all() and (padded.receivers[3:] >= 5).all()
  assert padded.senders.dtype == np.int32
  with pytest.raises(ValueError, match='too small'):
    jraph_utils.pad(g, 5, 6)


def test_padding_changes_no_metric():
  """Same scores for real nodes → same ranks under any budget; padding
  queries are dropped, padding nodes never compete."""
  graph = _graph()
  rng = np.random.default_rng(1)
  scores_real = rng.normal(size=(graph.num_nodes,))
  ranks = []
  for extra in (0, 37):
    need = padding.choose_budget(graph)
    budget = padding.Budget(need.nodes + extra, need.edges, need.relations,
                            need.relation_edges)
    arrays = padding.graph_arrays(graph, budget, 4)
    candidates = arrays.entity.nodes['candidate'] & arrays.entity.nodes['real']
    collected = []
    for batch in eval_batches(graph, 'test', 4, budget):
      scores = np.full((4, budget.nodes), 1e9, np.float32)  # padding: huge
      scores[:, :graph.num_nodes] = scores_real[None] + batch.queries.nodes[
          :, None]
      r = metrics.filtered_ranks(jnp.asarray(scores),
                                 jnp.asarray(batch.answers),
                                 jnp.asarray(batch.exclude),
                                 jnp.asarray(candidates))
      collected.append(np.asarray(r)[batch.answer_valid])
    ranks.append(np.concatenate(collected))
  np.testing.assert_array_equal(ranks[0], ranks[1])
  assert len(ranks[0]) == len(graph.queries['test'])


def test_filtered_ranks_by_hand():
  scores = jnp.array([[0.5, 0.9, 0.5, 0.1, jnp.nan]])
  exclude = jnp.array([[False, True, False, False, False]])
  candidates = jnp.array([True, True, True, True, False])
  # answer 0: node 1 is filtered, node 2 ties, node 4 is padding.
  for ties, expected in (('pessimistic', 2.0), ('realistic', 1.5),
                         ('optimistic', 1.0)):
    assert float(metrics.filtered_ranks(scores, jnp.array([0]), exclude,
                                        candidates, ties)[0]) == expected
  nan_answer = jnp.array([[jnp.nan, 0.9, 0.5, 0.1, 0.0]])
  assert float(metrics.filtered_ranks(nan_answer, jnp.array([0]), exclude,
                                      candidates)[0]) == 3.0
  nan_rival = jnp.array([[0.5, 0.9, jnp.nan, 0.1, 0.0]])
  assert float(metrics.filtered_ranks(nan_rival, jnp.array([0]), exclude,
                                      candidates)[0]) == 2.0
  summary = metrics.summarize([1, 2, 4, 20])
  assert summary['mrr'] == pytest.approx((1 + 0.5 + 0.25 + 0.05) / 4)
  assert summary['hits@1'] == 0.25 and summary['hits@3'] == 0.5


@pytest.mark.parametrize('ties', metrics.TIES)
def test_ranks_of_candidates_equal_ranks_of_all_nodes(ties):
  """Scoring only the answers and the candidate index gives the ranks of
  scoring every node, ties, filters, NaNs and padding included."""
  rng = np.random.default_rng(ties.__len__())
  batch, num_nodes = 6, 40
  scores = rng.integers(0, 5, size=(batch, num_nodes)).astype(np.float32)
  scores[0, 3] = np.nan
  candidates = rng.random(num_nodes) > 0.4
  candidates[-4:] = False  # padding nodes
  answers = rng.choice(np.flatnonzero(candidates), batch)
  exclude = (rng.random((batch, num_nodes)) > 0.8) & candidates
  exclude[np.arange(batch), answers] = False
  index = np.concatenate([np.flatnonzero(candidates),
                          [num_nodes - 4] * 5]).astype(np.int32)
  # Several answers per row too: each ranks as if it were alone.
  for answers in (answers, np.stack([answers, np.roll(answers, 1)], 1)):
    scored = np.concatenate([
        np.take_along_axis(scores, answers.reshape(batch, -1), axis=1),
        scores[:, index]], axis=1)
    full = metrics.filtered_ranks(jnp.asarray(scores), jnp.asarray(answers),
                                  jnp.asarray(exclude),
                                  jnp.asarray(candidates), ties)
    subset = metrics.filtered_ranks_of_candidates(
        jnp.asarray(scored), jnp.asarray(answers), jnp.asarray(exclude),
        jnp.asarray(index), jnp.asarray(candidates), ties)
    np.testing.assert_array_equal(full, subset)
    assert full.shape == answers.shape
    for column in range(answers.reshape(batch, -1).shape[1]):
      alone = metrics.filtered_ranks(
          jnp.asarray(scores), jnp.asarray(answers.reshape(batch, -1)[:,
                                                                      column]),
          jnp.asarray(exclude), jnp.asarray(candidates), ties)
      np.testing.assert_array_equal(
          np.asarray(full).reshape(batch, -1)[:, column], alone)


def test_group_answers_rows_follow_first_occurrence_and_split_large_groups():
  queries = QuerySet(nodes=np.array([5, 1, 5, 5, 1, 2, 5]),
                     relations=np.array([0, 0, 0, 0, 0, 1, 0]),
                     answers=np.array([10, 11, 12, 13, 14, 15, 16]))
  rows, answers, ids = group_answers(queries, 3)
  np.testing.assert_array_equal(rows.nodes, [5, 5, 1, 2])
  np.testing.assert_array_equal(rows.answers, [10, 16, 11, 15])
  np.testing.assert_array_equal(answers, [[10, 12, 13], [16, -1, -1],
                                          [11, 14, -1], [15, -1, -1]])
  # Each answer keeps the index of its query.
  np.testing.assert_array_equal(ids, [[0, 2, 3], [6, -1, -1], [1, 4, -1],
                                      [5, -1, -1]])


def test_grouped_eval_ranks_equal_one_query_per_row():
  """Ranking all answers of a (node, relation) in one row gives each query
  the rank it gets alone, filters included."""
  graph = _graph()
  budget = padding.choose_budget(graph)
  arrays = padding.graph_arrays(graph, budget, 4)
  candidates = jnp.asarray(arrays.entity.nodes['candidate'] &
                           arrays.entity.nodes['real'])
  scores_real = np.random.default_rng(3).integers(0, 6, graph.num_nodes)
  queries = graph.queries['test']
  assert answers_per_row(graph, 'test') > 1  # the test graph has groups

  def scores_of(nodes):
    out = np.zeros((len(nodes), budget.nodes), np.float32)
    out[:, :graph.num_nodes] = (scores_real[None] + nodes[:, None]) % 7
    return jnp.asarray(out)

  grouped = []
  for batch in eval_batches(graph, 'test', 4, budget):
    ranks = metrics.filtered_ranks(scores_of(batch.queries.nodes),
                                   jnp.asarray(batch.answers),
                                   jnp.asarray(batch.exclude), candidates)
    grouped.extend(zip(np.repeat(batch.queries.nodes, batch.answers.shape[1]
                                 ).reshape(batch.answers.shape)[
                                     batch.answer_valid],
                       batch.answers[batch.answer_valid],
                       np.asarray(ranks)[batch.answer_valid]))
  alone = []
  for i in range(len(queries)):
    one = pad_queries(queries.take(np.array([i])), graph.task, 1)
    exclude = known_mask(graph.known, one, budget.nodes)
    exclude[0, one.answers] = False
    rank = metrics.filtered_ranks(scores_of(one.nodes),
                                  jnp.asarray(one.answers),
                                  jnp.asarray(exclude), candidates)
    alone.append((one.nodes[0], one.answers[0], float(rank[0])))
  assert sorted(map(tuple, np.asarray(grouped, float).tolist())) == sorted(
      map(tuple, np.asarray(alone, float).tolist()))


def test_every_nth_eval_batch_is_the_full_iteration_sampled():
  graph = _graph()
  budget = padding.choose_budget(graph)
  every = list(eval_batches(graph, 'test', 2, budget))
  assert len(every) > 3
  for n, first in ((2, 0), (3, 1)):
    sampled = list(eval_batches(graph, 'test', 2, budget, first_batch=first,
                                every=n))
    assert len(sampled) == len(every[first::n])
    for got, want in zip(sampled, every[first::n]):
      np.testing.assert_array_equal(got.queries.nodes, want.queries.nodes)
      np.testing.assert_array_equal(got.answers, want.answers)
      np.testing.assert_array_equal(got.exclude, want.exclude)
  with pytest.raises(ValueError, match='every'):
    next(eval_batches(graph, 'test', 2, budget, every=0))


def test_candidate_index_covers_candidates_and_pads_with_a_non_candidate():
  graph = _graph()
  index = padding.candidate_index(graph)
  count = int(graph.candidates.sum())
  assert len(index) == padding.bucket(count)
  np.testing.assert_array_equal(index[:count], np.flatnonzero(
      graph.candidates))
  assert (index[count:] == graph.num_nodes).all()
  budget = padding.choose_budget(graph)
  arrays = padding.graph_arrays(graph, budget, 4)
  assert not arrays.entity.nodes['real'][index[count:]].any()


def test_strict_negatives_avoid_known_answers_and_are_deterministic():
  graph = _graph()
  budget = padding.choose_budget(graph)
  sampler = TrainSampler(graph, budget, batch_size=8, num_negatives=16,
                         seed=3)
  a, b = sampler.batch(5), sampler.batch(5)
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(x, y)
  rows, answers = sampler._known.lookup(  # pylint: disable=protected-access
      a.queries.nodes.astype(np.int64), a.queries.relations.astype(np.int64))
  known = set(zip(rows.tolist(), answers.tolist()))
  for row in range(8):
    for column in range(1, 17):
      if a.candidate_valid[row, column]:
        assert (row, int(a.candidates[row, column])) not in known
  # The query's own fact and its inverse are removed from the graph.
  assert (a.edge_weight == 0).sum() >= 2 * 8 - 1
