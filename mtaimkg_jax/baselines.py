"""Honest, parameter-free baselines that share the model's evaluation path.

- `feature_cosine`: cosine similarity between the query node's and each
  candidate's unified features (EA and EL: the "names alone" floor).
- `relation_frequency`: how often a candidate is the answer of the query
  relation in the fact graph (LP: the popularity floor every structural
  model must clear).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from mtaimkg_jax.data.batches import EvalBatch
from mtaimkg_jax.data.graph import QueryGraph

ScoreFn = Callable[[EvalBatch], np.ndarray]


def feature_cosine(graph: QueryGraph, num_columns: int,
                   modalities: Sequence[str] = ('text', 'image')) -> ScoreFn:
  """Cosine of concatenated, per-modality L2-normalised unified features.

  A node without any used modality scores 0 against everything.
  """
  parts = []
  for modality in modalities:
    features = graph.features.get(modality)
    if features is None:
      continue
    x = features.values * features.present[:, None]
    parts.append(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True),
                                1e-9))
  if parts:
    x = np.concatenate(parts, axis=1)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
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
