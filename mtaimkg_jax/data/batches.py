"""Query batches of static shape, built on the host from a `QueryGraph`.

Training batches carry each query's candidates (column 0 = the answer, then
negatives built the task's own way) and the edge weights with the queries'
own facts removed (ULTRA's recipe). Evaluation batches group the test
queries that share `(node, relation)` into one row with several answers
(LP test sets repeat a head and relation for ~25% of their queries; one
GNN pass then ranks them all), and carry each row's mask of known true
answers to filter out. A training batch is a pure function of (seed,
step), so a resumed run sees exactly the same data.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

from mtaimkg_jax.data.features import unit_rows
from mtaimkg_jax.data.graph import (KnownAnswers, QueryGraph, QuerySet,
                                    removal_edges, with_inverses)
from mtaimkg_jax.data.padding import Budget
from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.types import TASK_IDS, EvalBatch, Queries, TrainBatch

# Rejection rounds for strict negatives; leftovers are masked, not kept.
_RESAMPLE_ROUNDS = 8
# Most answers one evaluation row ranks; a larger group takes several rows.
MAX_ANSWERS_PER_ROW = 8


def pad_queries(queries: QuerySet, task: str, batch_size: int) -> Queries:
  """Pads up to `batch_size` by repeating the first query, marked invalid."""
  count = len(queries)
  if count > batch_size:
    raise ValueError(f'{count} queries exceed the batch size {batch_size}')
  index = np.concatenate([np.arange(count),
                          np.zeros(batch_size - count, np.int64)])
  valid = np.arange(batch_size) < count
  return Queries(
      nodes=queries.nodes[index].astype(np.int32),
      relations=queries.relations[index].astype(np.int32),
      answers=queries.answers[index].astype(np.int32),
      task=np.full((batch_size,), TASK_IDS[task], np.int32), valid=valid)


def known_mask(known: KnownAnswers, queries: Queries,
               num_columns: int) -> np.ndarray:
  """bool [B, num_columns]: True at every known answer of each query."""
  rows, answers = known.lookup(queries.nodes.astype(np.int64),
                               queries.relations.astype(np.int64))
  mask = np.zeros((len(queries.nodes), num_columns), bool)
  mask[rows, answers] = True
  return mask


def edge_weight_without(graph: QueryGraph, queries: QuerySet,
                        num_edges: int) -> np.ndarray:
  """float32 [num_edges] edge weights: 1 on the graph's real edges, 0 on
  padding and on each query's own fact and its inverse (a query is asked
  of a graph that does not hold its answer)."""
  weight = np.zeros((num_edges,), np.float32)
  weight[:graph.num_edges] = 1.0
  weight[removal_edges(graph, queries)] = 0.0
  return weight


def group_answers(queries: QuerySet, max_answers: int
                  ) -> tuple[QuerySet, np.ndarray, np.ndarray]:
  """Queries sharing `(node, relation)` → one row with up to `max_answers`
  answers (more take further rows). Rows follow the first occurrence of
  their group, answers their query order.

  Returns the rows (`answers` = each row's first answer), int64
  [rows, max_answers] answers and the index of each answer's query in
  `queries`, both -1 where a row has fewer.
  """
  count = len(queries)
  if not count:
    empty = np.zeros((0, max_answers), np.int64)
    return queries, empty, empty
  _, first, inverse = np.unique(_pair_keys(queries), return_index=True,
                                return_inverse=True)
  rank_of_group = np.empty_like(first)
  rank_of_group[np.argsort(first)] = np.arange(len(first))
  group = rank_of_group[inverse.reshape(-1)]
  order = np.argsort(group, kind='stable')
  group = group[order]
  starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
  position = np.arange(count) - np.repeat(starts, np.diff(np.r_[starts,
                                                                count]))
  chunk = position // max_answers
  new_row = np.r_[True, (group[1:] != group[:-1]) | (chunk[1:] != chunk[:-1])]
  row = np.cumsum(new_row) - 1
  answers = np.full((int(row[-1]) + 1, max_answers), -1, np.int64)
  ids = np.full_like(answers, -1)
  answers[row, position % max_answers] = queries.answers[order]
  ids[row, position % max_answers] = order
  return queries.take(order[new_row]), answers, ids


def answers_per_row(graph: QueryGraph, split: str) -> int:
  """The answer width A of `split`'s eval rows: the largest group, capped at
  `MAX_ANSWERS_PER_ROW`, rounded up to a power of two (few compilations)."""
  queries = graph.queries[split]
  if not len(queries):
    return 1
  largest = min(int(np.unique(_pair_keys(queries), return_counts=True)[1]
                    .max()), MAX_ANSWERS_PER_ROW)
  return 1 << (largest - 1).bit_length()


def _pair_keys(queries: QuerySet) -> np.ndarray:
  """One int64 per query, equal exactly when `(node, relation)` is."""
  return (queries.nodes * (int(queries.relations.max()) + 1) +
          queries.relations)


def eval_batches(graph: QueryGraph, split: str, batch_size: int,
                 budget: Budget, shard: tuple[int, int] = (0, 1),
                 first_batch: int = 0, every: int = 1
                 ) -> Iterator[EvalBatch]:
  """Every query of `split` once, in rows of grouped answers (this
  process's `shard` of the rows), from batch `first_batch` on (a resumed
  evaluation skips what it has); with `every` > 1 only every `every`-th
  of those batches (a sample spread over the split), the others never
  built."""
  if every < 1:
    raise ValueError(f'every must be a positive integer, got {every!r}')
  width = answers_per_row(graph, split)
  rows, answers, ids = group_answers(graph.queries[split], width)
  index, count = shard
  per_shard = -(-len(rows) // count)
  mine = np.arange(index * per_shard, min(len(rows), (index + 1) * per_shard))
  for start in range(first_batch * batch_size, max(len(mine), 1),
                     batch_size * every):
    chunk = mine[start:start + batch_size]
    padded = pad_queries(rows.take(chunk), graph.task, batch_size)
    row_answers = np.full((batch_size, width), -1, np.int64)
    row_answers[:len(chunk)] = answers[chunk]
    query_ids = np.full((batch_size, width), -1, np.int32)
    query_ids[:len(chunk)] = ids[chunk]
    answer_valid = row_answers >= 0
    row_answers = np.where(answer_valid, row_answers, padded.answers[:, None])
    yield EvalBatch(queries=padded, answers=row_answers.astype(np.int32),
                    answer_valid=answer_valid,
                    exclude=known_mask(graph.known, padded, budget.nodes),
                    query_ids=query_ids)


@dataclasses.dataclass
class TrainSampler:
  """Training batches of one graph, a pure function of (seed, draw index).

  `negatives='strict'` (LP, as ULTRA): uniform over the negative pool minus
  the query's known answers. `negatives='contrastive'` (EA, EL): the other
  queries' answers in the batch, then `num_hard` hard negatives (nearest by
  features), then strict random ones.
  """
  graph: QueryGraph
  budget: Budget
  batch_size: int
  num_negatives: int
  seed: int
  negatives: str = 'strict'
  num_hard: int = 0
  hard_pool_size: int = 32

  def __post_init__(self):
    if self.negatives not in ('strict', 'contrastive'):
      raise ValueError(f'unknown negatives {self.negatives!r}')
    queries = self.graph.queries['train']
    if not len(queries):
      raise ValueError(f'{self.graph.key}: no training queries')
    if 2 * len(queries) < self.batch_size:
      # A batch repeats its queries at most once (`_query_index`).
      raise ConfigError('train.batch_size', f'{self.graph.key} has '
                        f'{len(queries)} training queries, fewer than half a '
                        f'batch of {self.batch_size}: lower train.batch_size '
                        'or give the dataset more training data (EA: '
                        'ea.train_ratio, seed pairs)')
    self._queries = queries
    self._pool = np.flatnonzero(self.graph.negative_pool)
    train_facts = np.concatenate([
        self.graph.edges,
        with_inverses(
            np.stack([queries.nodes, queries.relations, queries.answers], 1),
            self.graph.num_base_relations)
    ])
    self._known = KnownAnswers.from_triples(train_facts,
                                            self.graph.num_relations)
    self._hard = None
    if self.negatives == 'contrastive':
      if self.batch_size - 1 + self.num_hard > self.num_negatives:
        raise ValueError(
            f'num_negatives={self.num_negatives} must cover the in-batch '
            f'({self.batch_size - 1}) and hard ({self.num_hard}) negatives')
      if self.num_hard:
        self._hard = self._nearest_candidates()

  @property
  def batches_per_epoch(self) -> int:
    return -(-len(self._queries) // self.batch_size)

  def _nearest_candidates(self) -> np.ndarray:
    """[Q_train, hard_pool_size] pool nodes most similar to each query node
    by the cosine of its concatenated unified features."""
    parts = [f.values * f.present[:, None]
             for f in self.graph.features.values()]
    if not parts:
      return np.zeros((len(self._queries), 0), np.int64)
    x = unit_rows(np.concatenate(parts, axis=1))
    pool = x[self._pool]
    size = min(self.hard_pool_size, len(self._pool))
    out = np.empty((len(self._queries), size), np.int64)
    for start in range(0, len(self._queries), 1024):
      nodes = self._queries.nodes[start:start + 1024]
      sims = x[nodes] @ pool.T
      top = np.argpartition(-sims, size - 1, axis=1)[:, :size]
      out[start:start + 1024] = self._pool[top]
    return out

  def _query_index(self, draw: int) -> np.ndarray:
    """Epoch-wise permutation: draw d takes batch d % epoch of epoch d // e."""
    epoch, position = divmod(draw, self.batches_per_epoch)
    order = np.random.default_rng([self.seed, epoch]).permutation(
        len(self._queries))
    index = order[position * self.batch_size:(position + 1) * self.batch_size]
    if len(index) < self.batch_size:
      index = np.concatenate([index, order[:self.batch_size - len(index)]])
    return index

  def batch(self, draw: int) -> TrainBatch:
    rng = np.random.default_rng([self.seed, draw, 1])
    index = self._query_index(draw)
    chunk = self._queries.take(index)
    queries = pad_queries(chunk, self.graph.task, self.batch_size)
    known = known_mask(self._known, queries, self.budget.nodes)
    if self.negatives == 'strict':
      negatives = self._strict(rng, known, self.num_negatives)
    else:
      negatives = self._contrastive(rng, queries, index, known)
    candidates = np.concatenate([queries.answers[:, None], negatives], 1)
    valid = ~known[np.arange(self.batch_size)[:, None], candidates]
    valid[:, 0] = True
    weight = edge_weight_without(self.graph, chunk, self.budget.edges)
    return TrainBatch(queries=queries, candidates=candidates.astype(np.int32),
                      candidate_valid=valid, edge_weight=weight)

  def _strict(self, rng: np.random.Generator, known: np.ndarray,
              count: int) -> np.ndarray:
    rows = np.arange(known.shape[0])[:, None]
    picks = self._pool[rng.integers(0, len(self._pool), (known.shape[0],
                                                         count))]
    for _ in range(_RESAMPLE_ROUNDS):
      clash = known[rows, picks]
      if not clash.any():
        break
      picks[clash] = self._pool[rng.integers(0, len(self._pool),
                                             int(clash.sum()))]
    return picks

  def _contrastive(self, rng: np.random.Generator, queries: Queries,
                   index: np.ndarray, known: np.ndarray) -> np.ndarray:
    size = self.batch_size
    others = np.arange(size)[None, :].repeat(size, 0)
    others = others[~np.eye(size, dtype=bool)].reshape(size, size - 1)
    parts = [queries.answers[others]]
    if self._hard is not None and self._hard.shape[1]:
      pick = rng.integers(0, self._hard.shape[1], (size, self.num_hard))
      parts.append(self._hard[index[:, None], pick])
    rest = self.num_negatives - sum(p.shape[1] for p in parts)
    parts.append(self._strict(rng, known, rest))
    return np.concatenate(parts, axis=1)
