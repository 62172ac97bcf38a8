"""The fact gate: how much of its modality terms a model uses on a graph,
read from the graph's own facts.

A learned weight per task is not a weight per graph: the same text
weight that helps on one graph costs on another. Before ranking a graph
whose task kind asks for it (LP), the model ranks a seeded sample of the
fact graph's own edges `(h, r, t)`, each held out of the graph as a
training step holds out its facts (with its inverse), among every
candidate, filtered by the fact graph's other answers; the modality
terms (every term but `structure`) are scaled by each of `SCALES`, and
the scale whose sample MRR is best (the smaller on a tie) scales them
when the graph's queries are ranked. Only the fact graph is read, never a
valid or test split; at scale 0 the logit is the structure term alone.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mtaimkg_jax import metrics, parallel, summary
from mtaimkg_jax.data.batches import pad_queries
from mtaimkg_jax.data.graph import KnownAnswers, QuerySet, removal_edges
from mtaimkg_jax.models.terms import STRUCTURE

# Scales of the modality terms the gate chooses among (1: as trained).
SCALES = (0.0, 0.25, 0.5, 1.0)


def sample_facts(graph, count: int, seed: int = 0) -> QuerySet:
  """A seeded sample of `count` fact edges (inverses included) as
  queries."""
  rows = np.random.default_rng(seed).permutation(len(graph.edges))[:count]
  edges = graph.edges[np.sort(rows)]
  return QuerySet(edges[:, 0], edges[:, 1], edges[:, 2])


def gate_ranks(structure: np.ndarray, modality: np.ndarray,
               answers: np.ndarray, exclude: np.ndarray,
               candidates: np.ndarray, ties: str) -> dict[float, np.ndarray]:
  """{scale: filtered ranks of `answers` [B] by `structure + scale ×
  modality` [B, N]}."""
  out = {}
  for scale in SCALES:
    scores = jnp.asarray(structure + scale * modality)
    out[scale] = np.asarray(metrics.filtered_ranks(
        scores, jnp.asarray(answers), jnp.asarray(exclude),
        jnp.asarray(candidates), ties))
  return out


def choose(mrr: dict[float, float]) -> float:
  """The scale of the best MRR, the smaller one on a tie."""
  return max(SCALES, key=lambda s: (round(mrr[s], 6), -s))


def read_gate(model, params: Any, prepared, config, mesh) -> dict:
  """The gate of `prepared`'s graph: {'scale', 'mrr': {scale: sample MRR},
  'queries'}; what `ranking.SplitRanker` scales the modality terms by."""
  graph, budget = prepared.graph, prepared.budget
  batch_size = config.eval.batch_size
  facts = sample_facts(graph, config.eval.gate_queries, config.seed)
  known = KnownAnswers.from_triples(graph.edges, graph.num_relations)
  candidates = np.zeros((budget.nodes,), bool)
  candidates[:graph.num_nodes] = graph.candidates
  terms_of = jax.jit(lambda p, g, q: model.apply(
      {'params': p}, g, q, side=model.apply(
          {'params': p}, g, method='graph_side'), method='rank').terms)
  arrays = prepared.arrays
  ranks: dict[float, list[np.ndarray]] = {s: [] for s in SCALES}
  bar = summary.progress(len(facts), f'{graph.key}/fact gate', unit='query')
  for start in range(0, len(facts), batch_size):
    part = facts.take(np.arange(start, min(start + batch_size, len(facts))))
    queries = pad_queries(part, graph.task, batch_size)
    weight = np.ones((budget.edges,), np.float32)
    weight[graph.num_edges:] = 0.0
    weight[removal_edges(graph, part)] = 0.0
    entity = arrays.entity._replace(edges={
        **arrays.entity.edges,
        'weight': parallel.replicate(weight, mesh)})
    terms = jax.device_get(terms_of(
        params, arrays._replace(entity=entity),
        parallel.replicate(queries, mesh)))
    structure = np.asarray(terms[STRUCTURE])
    modality = sum(np.asarray(v) for k, v in terms.items() if k != STRUCTURE)
    count = len(part)
    exclude = np.zeros((batch_size, budget.nodes), bool)
    rows, answers = known.lookup(part.nodes, part.relations)
    exclude[rows, answers] = True
    for scale, got in gate_ranks(
        structure[:count], modality[:count], part.answers, exclude[:count],
        candidates, config.eval.ties).items():
      ranks[scale].append(got)
    bar.update(count)
  bar.close()
  mrr = {s: float(np.mean(1.0 / np.concatenate(r))) for s, r in ranks.items()}
  return {'scale': choose(mrr), 'mrr': {f'{s:g}': m for s, m in mrr.items()},
          'queries': len(facts)}
