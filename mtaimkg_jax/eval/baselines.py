"""Parameter-free baselines, ranked on the same queries as the model.

- `feature_cosine`: cosine similarity between the query node's and each
  candidate's unified features (EA and EL: the "names alone" floor).
- `relation_frequency`: how often a candidate is the answer of the query
  relation in the fact graph (LP: the popularity floor every structural
  model must clear).

Each task kind names its floor (`TaskKind.baseline`); scores are computed
on the host and ranked by the same filtered-rank function as the model's.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import numpy as np

from mtaimkg_jax import metrics, summary
from mtaimkg_jax.data.batches import eval_batches
from mtaimkg_jax.data.features import unit_rows
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.data.padding import Budget
from mtaimkg_jax.types import MODALITIES, EvalBatch, GraphArrays

ScoreFn = Callable[[EvalBatch], np.ndarray]
RankFn = Callable[[EvalBatch], np.ndarray]

_ranks = jax.jit(metrics.filtered_ranks, static_argnames='ties')


def feature_cosine(graph: QueryGraph, num_columns: int,
                   modalities: Sequence[str] = MODALITIES) -> ScoreFn:
  """Cosine of concatenated, per-modality L2-normalised unified features.

  A node without any used modality scores 0 against everything.
  """
  parts = []
  for modality in modalities:
    features = graph.features.get(modality)
    if features is None:
      continue
    parts.append(unit_rows(features.values * features.present[:, None]))
  if parts:
    x = unit_rows(np.concatenate(parts, axis=1))
  else:
    x = np.zeros((graph.num_nodes, 1), np.float32)
  padded = np.zeros((num_columns, x.shape[1]), np.float32)
  padded[:graph.num_nodes] = x

  def score(batch: EvalBatch) -> np.ndarray:
    return padded[batch.queries.nodes] @ padded.T

  return score


def relation_frequency(graph: QueryGraph, num_columns: int) -> ScoreFn:
  """log(1 + number of fact edges `(·, r, c)`) for query relation r."""
  relations, nodes = graph.edges[:, 1], graph.edges[:, 2]
  keys, counts = np.unique(relations * num_columns + nodes,
                           return_counts=True)

  def score(batch: EvalBatch) -> np.ndarray:
    out = np.zeros((len(batch.queries.relations), num_columns), np.float32)
    for row, relation in enumerate(batch.queries.relations):
      lo, hi = np.searchsorted(keys, [relation * num_columns,
                                      (relation + 1) * num_columns])
      out[row, keys[lo:hi] - relation * num_columns] = np.log1p(counts[lo:hi])
    return out

  return score


BASELINES = {'feature_cosine': feature_cosine,
             'relation_frequency': relation_frequency}


def host_scorer(score: ScoreFn, arrays: GraphArrays,
                ties: str = 'realistic') -> RankFn:
  """Wraps a host-side score function [B, N_pad] into a rank function."""
  candidates = np.asarray(arrays.entity.nodes['candidate'] &
                          arrays.entity.nodes['real'])

  def rank(batch: EvalBatch) -> np.ndarray:
    return np.asarray(_ranks(score(batch), batch.answers, batch.exclude,
                             candidates, ties=ties))

  return rank


def evaluate_split(graph: QueryGraph, split: str, budget: Budget,
                   batch_size: int, rank: RankFn,
                   shard: tuple[int, int] = (0, 1)
                   ) -> tuple[np.ndarray, np.ndarray]:
  """(ranks, query ids) of all of this process's queries of `split`."""
  ranks, ids = [], []
  bar = summary.progress(len(graph.queries[split]), f'{graph.key}/{split}',
                         unit='query')
  for batch in eval_batches(graph, split, batch_size, budget, shard):
    ranks.append(np.asarray(rank(batch))[batch.answer_valid])
    ids.append(batch.query_ids[batch.answer_valid])
    bar.update(len(ranks[-1]))
  bar.close()
  if not ranks:
    return np.zeros((0,), np.float32), np.zeros((0,), np.int32)
  return np.concatenate(ranks), np.concatenate(ids)
