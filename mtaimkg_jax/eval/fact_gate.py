"""The fact gate: how much of its modality terms a model uses on a graph,
read from the graph's own facts.

A learned weight per task is not a weight per graph: the same text
weight that helps on one graph costs on another. Before ranking a graph
whose task kind asks for it (LP), the model ranks a seeded sample of the
fact graph's own edges `(h, r, t)`, each held out of the graph as a
training step holds out its facts (with its inverse), among every
candidate, filtered by the fact graph's other answers. Per modality, its
terms (the query and the prototype term) are scaled by each of `SCALES`,
the other terms as trained, and the smallest scale whose sample MRR is
within one standard error of the best scale's (paired over the sample's
queries: a gain the sample cannot tell from noise is not taken) scales
that modality's terms when the graph's queries are ranked. Only the fact
graph is read, never a valid or test split; at scale 0 everywhere the
logit is the structure term alone.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from mtaimkg_jax import metrics, parallel, summary
from mtaimkg_jax.data.batches import (edge_weight_without, known_mask,
                                      pad_queries)
from mtaimkg_jax.data.graph import KnownAnswers, QuerySet
from mtaimkg_jax.models.terms import Terms, prototype

# Scales of the modality terms the gate chooses among (1: as trained).
SCALES = (0.0, 0.25, 0.5, 1.0)


def sample_facts(graph, count: int, seed: int = 0) -> QuerySet:
  """A seeded sample of `count` fact edges (inverses included) as
  queries."""
  rows = np.random.default_rng(seed).permutation(len(graph.edges))[:count]
  edges = graph.edges[np.sort(rows)]
  return QuerySet(edges[:, 0], edges[:, 1], edges[:, 2])


def gate_ranks(terms: dict[str, np.ndarray], modality_terms: dict[str, tuple],
               answers: np.ndarray, exclude: np.ndarray,
               candidates: np.ndarray, ties: str
               ) -> dict[str, dict[float, np.ndarray]]:
  """{modality: {scale: filtered ranks of `answers` [B]}} of the logit
  (the sum of `terms`, each [B, N]) with that modality's terms
  (`modality_terms[modality]`: their names) scaled so."""
  total = sum(terms.values())
  out = {}
  for modality, names in modality_terms.items():
    own = sum(terms[n] for n in names)
    out[modality] = {}
    for scale in SCALES:
      scores = jnp.asarray(total + (scale - 1.0) * own)
      out[modality][scale] = np.asarray(metrics.filtered_ranks(
          scores, jnp.asarray(answers), jnp.asarray(exclude),
          jnp.asarray(candidates), ties))
  return out


def choose(reciprocal: dict[float, np.ndarray]) -> float:
  """The smallest scale whose reciprocal ranks' mean is within one
  standard error of the best scale's, the error of their paired
  per-query differences."""
  best = max(SCALES, key=lambda s: (float(np.mean(reciprocal[s])), -s))
  for scale in SCALES:
    difference = reciprocal[best] - reciprocal[scale]
    error = (np.std(difference, ddof=1) / np.sqrt(len(difference))
             if len(difference) > 1 else 0.0)
    if np.mean(difference) <= error:
      return scale
  return best


def read_gate(model, params: Any, prepared, config, mesh) -> dict:
  """The gate of `prepared`'s graph: {'scales': {modality: scale}, 'mrr':
  {modality: {scale: sample MRR}}, 'queries'}; `term_scales` turns it into
  what `ranking.SplitRanker` scales the terms by."""
  graph, budget = prepared.graph, prepared.budget
  batch_size = config.eval.batch_size
  terms = model.terms
  modality_terms = {m: (m, prototype(m)) for m in terms.modalities
                    if m in graph.features}
  facts = sample_facts(graph, config.eval.gate_queries, config.seed)
  known = KnownAnswers.from_triples(graph.edges, graph.num_relations)
  candidates = np.zeros((budget.nodes,), bool)
  candidates[:graph.num_nodes] = graph.candidates
  terms_of = jax.jit(lambda p, g, q: model.apply(
      {'params': p}, g, q, side=model.apply(
          {'params': p}, g, method='graph_side'), method='rank').terms)
  arrays = prepared.arrays
  ranks = {m: {s: [] for s in SCALES} for m in modality_terms}
  bar = summary.progress(len(facts), f'{graph.key}/fact gate', unit='query')
  for start in range(0, len(facts), batch_size):
    part = facts.take(np.arange(start, min(start + batch_size, len(facts))))
    queries = pad_queries(part, graph.task, batch_size)
    weight = edge_weight_without(graph, part, budget.edges)
    entity = arrays.entity._replace(edges={
        **arrays.entity.edges,
        'weight': parallel.replicate(weight, mesh)})
    count = len(part)
    got = {name: np.asarray(value)[:count] for name, value in
           jax.device_get(terms_of(params, arrays._replace(entity=entity),
                                   parallel.replicate(queries, mesh))).items()}
    exclude = known_mask(known, part, budget.nodes)
    for modality, by_scale in gate_ranks(
        got, modality_terms, part.answers, exclude, candidates,
        config.eval.ties).items():
      for scale, r in by_scale.items():
        ranks[modality][scale].append(r)
    bar.update(count)
  bar.close()
  reciprocal = {m: {s: 1.0 / np.concatenate(r) for s, r in by_scale.items()}
                for m, by_scale in ranks.items()}
  return {'scales': {m: choose(by_scale)
                     for m, by_scale in reciprocal.items()},
          'mrr': {m: {f'{s:g}': float(np.mean(v)) for s, v in by_scale.items()}
                  for m, by_scale in reciprocal.items()},
          'queries': len(facts)}


def term_scales(terms: Terms, gate: dict) -> np.ndarray:
  """float32 [K] per term, the scale its modality's gate chose (structure
  and a modality the gate did not see: 1)."""
  scales = np.ones((len(terms),), np.float32)
  for modality, scale in gate['scales'].items():
    scales[terms.index(modality)] = scale
    scales[terms.index(prototype(modality))] = scale
  return scales
