"""Metrics of ranked splits, their breakdowns, and `results.json`.

A split's ranks come with the id of the query each belongs to, so the
metrics can be broken down as PyKEEN's evaluator does: by direction (LP:
tail prediction `(h, r, ?)` vs head prediction `(t, r⁻¹, ?)`), by query
relation, and (EA, EL: queries that name their answer) by whether the
answer's name is shared with another candidate. The breakdowns sit under each dataset's metrics, written
to `results.json` by `eval/runner.py`.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from mtaimkg_jax import metrics
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.data.tasks import KINDS

RESULT_KEYS = ('mrr', 'hits@1', 'hits@3', 'hits@5', 'hits@10', 'mr', 'count')


def summary(ranks: np.ndarray) -> dict[str, float]:
  summarised = metrics.summarize(ranks)
  return {k: summarised[k] for k in RESULT_KEYS}


def breakdown(ranks: np.ndarray, query_ids: np.ndarray, graph: QueryGraph,
              split: str, by: Sequence[str]) -> dict[str, dict]:
  """{'by_direction': {'tail': ..., 'head': ...}, 'by_relation': {name:
  ...}} of the ranks of `graph`'s `split` queries `query_ids`, for the
  breakdowns `by` names; a direction breakdown only where the split asks
  both ways (LP)."""
  relations = graph.queries[split].relations[query_ids]
  base = graph.num_base_relations
  out = {}
  head = relations >= base
  if 'direction' in by and head.any() and not head.all():
    out['by_direction'] = {'tail': summary(ranks[~head]),
                           'head': summary(ranks[head])}
  if 'relation' in by:
    names = graph.relation_names
    out['by_relation'] = {names[r]: summary(ranks[relations % base == r])
                          for r in np.unique(relations % base)}
  if 'shared_name' in by and KINDS[graph.task].names_prior:
    shared = shared_name(graph, graph.queries[split].answers[query_ids])
    out['by_shared_name'] = {
        group: summary(ranks[rows]) for group, rows in (
            ('shared', shared), ('unique', ~shared)) if rows.any()}
  return out


def folded_names(graph: QueryGraph) -> np.ndarray:
  """object [N] each node's name, case and spaces folded: names that
  read the same are equal."""
  return np.array([' '.join(n.lower().split()) for n in graph.node_names],
                  dtype=object)


def shared_name(graph: QueryGraph, answers: np.ndarray) -> np.ndarray:
  """bool [Q]: whether each answer's name (case and spaces folded, not
  empty) is also the name of another candidate, so that names alone
  cannot tell them apart (EL's homonyms)."""
  folded = folded_names(graph)
  names, counts = np.unique(folded[graph.candidates], return_counts=True)
  shared_names = names[(counts >= 2) & (names != '')]
  return np.isin(folded[answers], shared_names)


def log(results: dict[str, dict[str, Any]]) -> None:
  for key, values in results.items():
    logging.info('%s: %s', key, ', '.join(
        f'{k}={values[k]:.4f}' for k in RESULT_KEYS))
