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

The same sample chooses the backbone (`model.backbone_merges`): a
backbone trained on some graphs moves away from its start (ULTRA's
multi-graph weights) in a direction that helps on graphs like them and
can cost on others, so the gate is read with each merge of the trained
and the initial backbone, and the graph is ranked with the one whose
best sample MRR is highest.
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
               ) -> tuple[np.ndarray, dict[str, dict[float, np.ndarray]]]:
  """The filtered ranks of `answers` [B] by the logit (the sum of
  `terms`, each [B, N]) and {modality: {scale: filtered ranks}} with that
  modality's terms (`modality_terms[modality]`: their names) scaled so."""
  total = sum(terms.values())

  def ranks(scores):
    return np.asarray(metrics.filtered_ranks(
        jnp.asarray(scores), jnp.asarray(answers), jnp.asarray(exclude),
        jnp.asarray(candidates), ties))

  as_trained = ranks(total)
  out = {}
  for modality, names in modality_terms.items():
    own = sum(terms[n] for n in names)
    out[modality] = {scale: as_trained if scale == 1 else
                     ranks(total + (scale - 1.0) * own) for scale in SCALES}
  return as_trained, out


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


def read_gates(model, backbones: dict[float, Any], prepared, config,
               mesh) -> dict[float, dict]:
  """The gate of `prepared`'s graph read with each of `backbones` ({merge
  weight: parameters}): {weight: {'scales': {modality: scale}, 'mrr':
  {modality: {scale: sample MRR}}, 'mrr_as_trained': the sample MRR with
  every term as trained, 'queries'}}; `term_scales` turns a gate into what
  `ranking.SplitRanker` scales the terms by. Every backbone ranks the same
  sample with one compiled function."""
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
  ranks = {w: {m: {s: [] for s in SCALES} for m in modality_terms}
           for w in backbones}
  plain = {w: [] for w in backbones}
  bar = summary.progress(len(facts) * len(backbones),
                         f'{graph.key}/fact gate', unit='query')
  for start in range(0, len(facts), batch_size):
    part = facts.take(np.arange(start, min(start + batch_size, len(facts))))
    queries = parallel.replicate(pad_queries(part, graph.task, batch_size),
                                 mesh)
    weight = edge_weight_without(graph, part, budget.edges)
    entity = arrays.entity._replace(edges={
        **arrays.entity.edges,
        'weight': parallel.replicate(weight, mesh)})
    count = len(part)
    exclude = known_mask(known, part, budget.nodes)
    for w, params in backbones.items():
      got = {name: np.asarray(value)[:count] for name, value in
             jax.device_get(terms_of(params, arrays._replace(entity=entity),
                                     queries)).items()}
      as_trained, by_modality = gate_ranks(
          got, modality_terms, part.answers, exclude, candidates,
          config.eval.ties)
      plain[w].append(as_trained)
      for modality, by_scale in by_modality.items():
        for scale, r in by_scale.items():
          ranks[w][modality][scale].append(r)
      bar.update(count)
  bar.close()
  gates = {}
  for w in backbones:
    reciprocal = {m: {s: 1.0 / np.concatenate(r) for s, r in by_scale.items()}
                  for m, by_scale in ranks[w].items()}
    gates[w] = {
        'scales': {m: choose(by_scale) for m, by_scale in reciprocal.items()},
        'mrr': {m: {f'{s:g}': float(np.mean(v)) for s, v in by_scale.items()}
                for m, by_scale in reciprocal.items()},
        'mrr_as_trained': float(np.mean(1.0 / np.concatenate(plain[w]))),
        'queries': len(facts)}
  return gates


def best_mrr(gate: dict) -> float:
  """The best sample MRR a gate saw: as trained or with one modality's
  terms at one of its scales."""
  return max([gate['mrr_as_trained']] + [
      value for by_scale in gate['mrr'].values()
      for value in by_scale.values()])


def choose_backbone(gates: dict[float, dict]) -> float:
  """Of the backbones' gates (`read_gates`), the weight
  whose `best_mrr` is highest (ties: the first listed). Unlike the term
  scales, no standard-error margin: neither backbone is the safe one."""
  return max(gates, key=lambda w: (best_mrr(gates[w]),
                                   -list(gates).index(w)))


def ranked_with(model, backbones: dict[float, Any], prepared, config,
                mesh) -> tuple[float, dict | None]:
  """The backbone (its merge weight, a key of `backbones`) and the gate
  `prepared`'s graph is ranked with. With `model.fact_gate` on, a task
  kind the gate reads (LP) and something to choose (modality terms, or
  several backbones): the gate's choice, the gate noting every backbone's
  best sample MRR when there are several. Else the first backbone and no
  gate (every term as trained)."""
  first = next(iter(backbones))
  if not (config.model.fact_gate and prepared.kind.fact_gated and (
      len(model.terms) > 1 or len(backbones) > 1)):
    return first, None
  gates = read_gates(model, backbones, prepared, config, mesh)
  merge = choose_backbone(gates)
  gate = gates[merge]
  if len(gates) > 1:
    gate = {**gate, 'backbone_mrr': {f'{w:g}': best_mrr(g)
                                     for w, g in gates.items()}}
  return merge, gate


def gated_side(side: Any, terms: Terms, gate: dict | None, mesh) -> Any:
  """A graph side (`Model.graph_side`) that ranks with `gate`'s term
  scales, replicated over `mesh`; None: the side as trained."""
  if gate is None:
    return side
  return side._replace(term_scales=parallel.replicate(
      term_scales(terms, gate), mesh))


def term_scales(terms: Terms, gate: dict) -> np.ndarray:
  """float32 [K] per term, the scale its modality's gate chose (structure
  and a modality the gate did not see: 1)."""
  scales = np.ones((len(terms),), np.float32)
  for modality, scale in gate['scales'].items():
    scales[terms.index(modality)] = scale
    scales[terms.index(prototype(modality))] = scale
  return scales
