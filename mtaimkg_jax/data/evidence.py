"""Graph evidence: how much each modality says about a graph's own facts.

Computed once per graph from its fact graph only (its edges; never a
valid or test split), per relation (edge type, inverses included) and
modality, by masked self-prediction: a seeded sample of each relation's
edges `(h, r, t)` is held out one at a time and ranked among the
candidates by each modality term alone (the query–candidate cosine
`cos(h, c)`, h's own counted 0 as the model counts it, and the
candidate–prototype cosine `cos(p_r∖t, c)` with
the held-out answer left out of r's prototype), filtered by r's other
known answers of h. The router reads these numbers, so the weight a term
gets can follow how well it ranks this graph's facts instead of being one
weight per task.

Per relation and modality, `FEATURES` in order:
- `query_mrr`, `prototype_mrr`: the reciprocal ranks' means;
- `query_lift`, `prototype_lift`: `1 − log(rank) / log(C)` averaged (C
  candidates): 1 at the top, 0 at the bottom, ~log 2 / log C for a
  random order, so it reads alike on graphs of different size;
- `query_gain`, `prototype_gain`: `log((mrr + 0.01) / (frequency_mrr +
  0.01))` of the relation, how much better than popularity the term
  alone ranks (0: no better; the scale-free number a weight can follow);
- `homophily`: the mean cosine of an edge's two ends minus that of
  random pairs of the graph;
- `coverage`: the share of the sampled edges whose two ends both have
  the modality.
Per relation, once: `frequency_mrr` and `frequency_lift`, the same
ranks by how often a candidate answers r (the popularity floor every
structural model clears, so a modality's numbers read against it), and
`support`, `min(1, log(1 + edges) / log(1 + max_edges))`, how much of a
sample stands behind the numbers (0: no edge, no evidence). `relation_evidence` also returns the graph's edge-weighted
mean of every row, which the router reads beside the query relation's.
"""

from __future__ import annotations

import numpy as np

from mtaimkg_jax.data.features import unit_rows
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.types import ALL_MODALITIES

PER_MODALITY = ('query_mrr', 'prototype_mrr', 'query_lift',
                'prototype_lift', 'query_gain', 'prototype_gain', 'homophily',
                'coverage')
# Added to both reciprocal ranks of a gain: a term and the popularity floor
# that both rank nothing gain 0, not a ratio of noise.
_GAIN_FLOOR = 0.01
PER_RELATION = ('frequency_mrr', 'frequency_lift', 'support')


def num_features(num_modalities: int) -> int:
  """Width of one relation's evidence row."""
  return len(PER_MODALITY) * num_modalities + len(PER_RELATION)


def feature_names(modalities: tuple[str, ...]) -> list[str]:
  """The names of an evidence row's columns, in order."""
  return ([f'{m}.{name}' for m in modalities for name in PER_MODALITY] +
          list(PER_RELATION))


# What a logit term reads of its own modality's evidence: its own
# self-prediction (for the query–candidate term `query_*`, for the
# prototype term `prototype_*`) and what the modality is on the graph.
TERM_FEATURES = ('mrr', 'lift', 'gain')
SHARED_FEATURES = ('homophily', 'coverage')


def report(graph: QueryGraph, modalities: tuple[str, ...]
           ) -> dict[str, dict]:
  """What the router saw of a graph, readable: {'mean': {feature: value},
  'relations': {relation name: {feature: value}}} over the features of
  `modalities` and the per-relation ones (relations without an edge are
  left out)."""
  names = feature_names(ALL_MODALITIES)
  kept = [i for i, name in enumerate(names)
          if name.split('.')[0] in modalities or name in PER_RELATION]
  rows, mean = graph.evidence, graph.evidence_mean
  if rows is None:
    rows, mean = of_graph(graph)
  support = rows[:, names.index('support')]
  return {'mean': {names[i]: round(float(mean[i]), 4) for i in kept},
          'relations': {
              graph.relation_names[r]: {names[i]: round(float(rows[r, i]), 4)
                                        for i in kept}
              for r in np.flatnonzero(support > 0)}}


def term_columns(modalities: tuple[str, ...]) -> np.ndarray:
  """int [2M, F_t] per modality term of a model (`routing.term_names`
  order after structure: the query terms, then the prototype terms), the
  columns of an `ALL_MODALITIES` evidence row it reads: its own
  self-prediction, its modality's homophily and coverage, and the
  relation's popularity floor and support."""
  width = len(PER_MODALITY)
  end = num_features(len(ALL_MODALITIES))
  relation = list(range(end - len(PER_RELATION), end))
  out = []
  for kind in ('query', 'prototype'):
    for modality in modalities:
      start = ALL_MODALITIES.index(modality) * width
      own = [start + PER_MODALITY.index(f'{kind}_{f}')
             for f in TERM_FEATURES]
      shared = [start + PER_MODALITY.index(f) for f in SHARED_FEATURES]
      out.append(own + shared + relation)
  return np.asarray(out, np.int32)


def _known_mask(edges: np.ndarray,
                rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(sample row, node) pairs of the other known answers of each sampled
  edge's `(h, r)` in the fact graph (its own answer excluded)."""
  keys = edges[:, 0] * (edges[:, 1].max() + 1) + edges[:, 1]
  order = np.argsort(keys, kind='stable')
  sorted_keys = keys[order]
  wanted = keys[rows]
  lo = np.searchsorted(sorted_keys, wanted, 'left')
  hi = np.searchsorted(sorted_keys, wanted, 'right')
  counts = hi - lo
  sample = np.repeat(np.arange(len(rows)), counts)
  offsets = np.repeat(lo - np.cumsum(counts) + counts, counts)
  answers = edges[order[offsets + np.arange(counts.sum())], 2]
  own = answers == edges[rows[sample], 2]
  return sample[~own], answers[~own]


def _ranks(scores: np.ndarray, answers: np.ndarray, candidates: np.ndarray,
           exclude: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
  """Filtered ranks (ties count half) of `answers` [S] among the
  `candidates` (bool [N]) by `scores` [S, N]."""
  scores = np.where(candidates[None, :], scores, -np.inf)
  scores[exclude] = -np.inf
  target = scores[np.arange(len(answers)), answers][:, None]
  above = np.sum(scores > target, axis=1)
  ties = np.sum(scores == target, axis=1) - 1
  return 1.0 + above + 0.5 * ties


def relation_evidence(edges: np.ndarray, num_relations: int,
                      features: dict[str, tuple[np.ndarray, np.ndarray]],
                      candidates: np.ndarray, max_edges: int = 64,
                      seed: int = 0, chunk: int = 512
                      ) -> tuple[np.ndarray, np.ndarray]:
  """Evidence rows [num_relations, F] and their graph mean [F].

  Args:
    edges: int [E, 3] the fact graph `(h, r, t)`, inverses included.
    num_relations: relation ids are `0..num_relations-1`.
    features: modality → (values [N, k], present bool [N]), in the order
      of the model's modalities (a modality the graph lacks: all absent).
    candidates: bool [N] the nodes an answer is ranked among.
    max_edges: edges sampled per relation.
  """
  num_nodes = len(candidates)
  width = num_features(len(features))
  out = np.zeros((num_relations, width), np.float32)
  if not len(edges):
    return out, np.zeros((width,), np.float32)
  rng = np.random.default_rng(seed)
  relation_of = edges[:, 1]
  counts = np.bincount(relation_of, minlength=num_relations)
  rows = np.concatenate([
      rng.permutation(np.flatnonzero(relation_of == r))[:max_edges]
      for r in np.flatnonzero(counts)])
  sampled = edges[rows]
  exclude = _known_mask(edges, rows)
  heads, kinds, tails = sampled[:, 0], sampled[:, 1], sampled[:, 2]
  log_candidates = np.log(max(int(candidates.sum()), 2))
  per_sample = []
  for values, present in features.values():
    if not present.any():
      per_sample.append(np.zeros((len(rows), len(PER_MODALITY))))
      continue
    unit = unit_rows(np.asarray(values, np.float32)) * present[:, None]
    # Σ of each relation's answers, less the held-out answer per sample.
    totals = np.zeros((num_relations, unit.shape[1]), np.float64)
    np.add.at(totals, relation_of, unit[edges[:, 2]])
    prototypes = unit_rows((totals[kinds] - unit[tails]).astype(np.float32))
    columns = []
    for query, own in ((unit[heads], heads), (prototypes, None)):
      ranks = np.concatenate([
          _ranks(_without_own(query[s:s + chunk] @ unit.T,
                              None if own is None else own[s:s + chunk]),
                 tails[s:s + chunk], candidates, _rows_in(exclude, s, chunk))
          for s in range(0, len(rows), chunk)])
      columns += [1.0 / ranks, 1.0 - np.log(ranks) / log_candidates]
    random_pairs = rng.integers(0, num_nodes, (4096, 2))
    baseline = np.mean(np.sum(unit[random_pairs[:, 0]] *
                              unit[random_pairs[:, 1]], axis=1))
    ends = np.sum(unit[heads] * unit[tails], axis=1) - baseline
    both = (present[heads] & present[tails]).astype(np.float64)
    # The gains are filled in per relation below, from the means.
    gains = np.zeros((len(rows), 2))
    per_sample.append(np.stack([columns[0], columns[2], columns[1],
                                columns[3], gains[:, 0], gains[:, 1], ends,
                                both], axis=1))
  # Popularity: how often each node answers r, less the held-out edge.
  answer_keys = relation_of * num_nodes + edges[:, 2]
  keys, key_counts = np.unique(answer_keys, return_counts=True)
  frequency_ranks = np.concatenate([
      _ranks(_frequency_scores(keys, key_counts, kinds[s:s + chunk],
                               tails[s:s + chunk], num_nodes),
             tails[s:s + chunk], candidates, _rows_in(exclude, s, chunk))
      for s in range(0, len(rows), chunk)])
  per_sample.append(np.stack([1.0 / frequency_ranks,
                              1.0 - np.log(frequency_ranks) / log_candidates],
                             axis=1))
  samples = np.concatenate(per_sample, axis=1)
  sums = np.zeros((num_relations, samples.shape[1]))
  np.add.at(sums, kinds, samples)
  taken = np.bincount(kinds, minlength=num_relations)
  has = taken > 0
  out[has, :samples.shape[1]] = sums[has] / taken[has, None]
  out[:, -1] = np.minimum(np.log1p(counts) / np.log1p(max_edges), 1.0)
  frequency = out[:, -3] + _GAIN_FLOOR
  width = len(PER_MODALITY)
  for m, (_, present) in enumerate(features.values()):
    if present.any():
      for gain, mrr in ((4, 0), (5, 1)):
        out[has, m * width + gain] = np.log(
            (out[has, m * width + mrr] + _GAIN_FLOOR) / frequency[has])
  weights = counts / counts.sum()
  return out, (weights @ out).astype(np.float32)


def _frequency_scores(keys: np.ndarray, key_counts: np.ndarray,
                      kinds: np.ndarray, held_out: np.ndarray,
                      num_nodes: int) -> np.ndarray:
  """[S, N] how often each node answers each sample's relation, the
  sample's own edge not counted."""
  scores = np.zeros((len(kinds), num_nodes), np.float64)
  for row, relation in enumerate(kinds):
    lo, hi = np.searchsorted(keys, [relation * num_nodes,
                                    (relation + 1) * num_nodes])
    scores[row, keys[lo:hi] - relation * num_nodes] = key_counts[lo:hi]
  scores[np.arange(len(kinds)), held_out] -= 1
  return scores


def _without_own(scores: np.ndarray, heads: np.ndarray | None) -> np.ndarray:
  """The query term's scores with each query's own node at 0, as the
  model scores it (a query node is no answer of its own query)."""
  if heads is not None:
    scores[np.arange(len(heads)), heads] = 0.0
  return scores


def _rows_in(exclude: tuple[np.ndarray, np.ndarray], start: int,
             size: int) -> tuple[np.ndarray, np.ndarray]:
  sample, node = exclude
  kept = (sample >= start) & (sample < start + size)
  return sample[kept] - start, node[kept]


def of_graph(graph: QueryGraph, max_edges: int = 64
             ) -> tuple[np.ndarray, np.ndarray]:
  """`relation_evidence` of a query graph's fact graph (its edges, the
  only part of a graph that no valid or test split adds to), for every
  one of `ALL_MODALITIES` (a padded graph's fixed width), answers ranked
  among the graph's negative pool (LP: every entity; EA: graph 2; EL:
  the knowledge base)."""
  features = {}
  for modality in ALL_MODALITIES:
    given = graph.features.get(modality)
    features[modality] = (
        (given.values, given.present) if given is not None else
        (np.zeros((graph.num_nodes, 1), np.float32),
         np.zeros((graph.num_nodes,), bool)))
  return relation_evidence(graph.edges, graph.num_relations, features,
                           graph.negative_pool, max_edges)
