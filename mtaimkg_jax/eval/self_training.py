"""Self-training at ranking time (EA): pseudo-seeds from a split's own scores.

After a one-to-one split is ranked, a query and a candidate that are each
other's best (the candidate is the query's top, the query the
candidate's top among the split's queries), with the query's best score
at least `eval.self_training_margin` above its second, become a pseudo
seed pair. Pseudo-seeds join the graph's seed pairs, which the anchors
view codes (data/views.py) and the centring references are drawn from,
and the split is ranked again, `eval.self_training_rounds` times. No
label is read, so it runs on zero-shot pairs too; what it reads is the
graph pair's entities and their scores, never a gold answer (with
`ea.candidates='test'`, the default protocol, the candidates are the test
pairs' counterparts, as for every EA row). Each round's precision is
measured on the held-out seed pairs (the valid split, ranked among the
valid and test counterparts, mined the same way), never on test pairs.
"""

from __future__ import annotations

import dataclasses

import chex
import ml_collections
import numpy as np

from mtaimkg_jax.data import evidence, views
from mtaimkg_jax.data.graph import QueryGraph


def applies(config: ml_collections.ConfigDict, kind) -> bool:
  """Whether datasets of task `kind` are self-trained when ranked (one
  counterpart per query, `eval.self_training_rounds` > 0)."""
  return kind.one_to_one and config.eval.self_training_rounds > 0


def mutual_best(scores: np.ndarray, margin: float) -> tuple[np.ndarray,
                                                            np.ndarray]:
  """(rows, columns) of the mutual best pairs of a [R, C] score matrix
  (-inf: may not pair), each row's best at least `margin` above its
  second best."""
  chex.assert_rank(scores, 2)
  finite = np.isfinite(scores)
  scores = np.where(finite, scores, -np.inf)
  has = finite.any(axis=1)
  best = scores.argmax(axis=1)
  best_row = scores.argmax(axis=0)
  gap = np.full((len(scores),), np.inf)
  if scores.shape[1] > 1:
    top2 = -np.partition(-scores, 1, axis=1)[:, :2]
    two = np.isfinite(top2[:, 1])
    gap[two] = top2[two, 0] - top2[two, 1]
  rows = np.flatnonzero(has & (best_row[best] == np.arange(len(scores))) &
                        (gap >= margin))
  return rows, best[rows]


def pseudo_seeds(graph: QueryGraph, split: str, result: dict[str, np.ndarray],
                 margin: float) -> np.ndarray:
  """int64 [P, 2] (query node, candidate node) pseudo seed pairs of a
  ranked split (`SplitRanker.rank(..., keep_scores=True)`; one answer per
  row, as one-to-one tasks have)."""
  rows, columns = mutual_best(result['scores'], margin)
  # `query_ids` has one entry per answer, in row-major order: a row's
  # query is its first answer's.
  answers = (result['columns'] >= 0).sum(axis=1)
  first = np.cumsum(answers) - answers
  queries = graph.queries[split].nodes[result['query_ids'][first[rows]]]
  candidates = np.flatnonzero(graph.candidates)[columns]
  return np.stack([queries, candidates], axis=1).astype(np.int64)


def precision(graph: QueryGraph, split: str, pairs: np.ndarray) -> float:
  """The share of `pairs` that are gold pairs of `split` (nan if none)."""
  queries = graph.queries[split]
  gold = set(zip(queries.nodes.tolist(), queries.answers.tolist()))
  if not len(pairs):
    return float('nan')
  return float(np.mean([tuple(p) in gold for p in pairs.tolist()]))


def with_seeds(graph: QueryGraph, pairs: np.ndarray,
               config: ml_collections.ConfigDict) -> QueryGraph:
  """`graph` whose seed pairs also hold `pairs` (but those with a node
  some seed pair already has), its anchors view (if it has one) and its
  evidence computed again from them."""
  taken = np.isin(pairs, graph.seed_pairs).any(axis=1)
  seeds = np.unique(np.concatenate([graph.seed_pairs, pairs[~taken]]), axis=0)
  seeded = dataclasses.replace(graph, seed_pairs=seeds)
  if 'anchors' not in graph.features:
    return seeded
  seeded = views.add_views(seeded, ('anchors',), config.features.k,
                           config.features.unification)
  rows, mean = evidence.of_graph(seeded)
  return dataclasses.replace(seeded, evidence=rows, evidence_mean=mean)
