"""Derived feature views: signals a graph's own features, names and edges
give, each added as a modality of its own (own unification, own routed
representation, own cosine prior). Each was measured first by
`benchmarks/probes.py`, with weights chosen on training queries.

- `neighbours`: the sum of a node's neighbours' unit-length unified text,
  over edges of relations no query asks about, so it never carries an
  answer: EA (`same_as` excluded) sees each entity's neighbourhood by name;
  LP (every relation is queried) and EL mentions (edgeless) get none.
  Probe: names of neighbours lift names-alone EA H@1 from 0.697 to 0.797
  on DBP15K zh_en.
- `surface`: character trigrams (signed hashing) of the node's name, or of
  a mention's surface form: EL matches the words of the mention, not of
  its sentence, against entity names. Probe: RichpediaMEL H@1 0.937 →
  0.951 with this view unified to 128 dims.
- `anchors` (EA): which seed pairs (the training `same_as` pairs) a node
  has among its neighbours, as the sum of one random code per pair, so two
  entities whose neighbours are aligned seeds get close whatever their
  names. A node's own pair never counts. Probe: on DBP15K zh_en, added
  to names and neighbours' names, H@1 0.796 → 0.837 (one-to-one 0.882 →
  0.918).
- `native`: the node's name as its own graph gives it (an EA entity's
  URI: Chinese or Japanese on one side of DBP15K, English on the other;
  an EL mention's surface form), read by a multilingual encoder
  (`features.MultilingualEncoder`), beside the `text` modality's
  machine-translated names: a translation's errors are not the
  encoder's. Probe: `benchmarks/probes.py original-names`.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import numpy as np

from mtaimkg_jax.data.features import (HashingEncoder, MultilingualEncoder,
                                       default_cache_dir, encode_texts,
                                       fit_unifier, unit_rows)
from mtaimkg_jax.data.graph import QueryGraph, inverse_relation
from mtaimkg_jax.data.mmkg import Features
from mtaimkg_jax.types import VIEWS


def queried_relations(graph: QueryGraph) -> np.ndarray:
  """Sorted ids of every relation some query of any split asks, with its
  inverse."""
  asked = np.unique(np.concatenate(
      [q.relations for q in graph.queries.values()]))
  return np.union1d(asked, inverse_relation(asked, graph.num_base_relations))


def neighbour_pairs(graph: QueryGraph) -> np.ndarray:
  """Distinct (node, neighbour) pairs [P, 2] over edges of relations no
  query asks (so no pair carries an answer)."""
  edges = graph.edges[~np.isin(graph.edges[:, 1], queried_relations(graph))]
  return np.unique(edges[:, [0, 2]], axis=0)


def _sums(num_nodes: int, pairs: np.ndarray, rows: np.ndarray) -> Features:
  """Σ of `rows` [P, D] into each pair's node; present where any."""
  total = np.zeros((num_nodes, rows.shape[1]), np.float64)
  np.add.at(total, pairs[:, 0], rows)
  has = np.zeros((num_nodes,), bool)
  has[pairs[:, 0]] = True
  return Features(total.astype(np.float32), has)


def neighbour_sums(graph: QueryGraph, values: np.ndarray,
                   present: np.ndarray) -> Features:
  """Σ of the unit-length rows of each node's distinct neighbours (present
  ones) over edges of relations no query asks; present where any."""
  pairs = neighbour_pairs(graph)
  pairs = pairs[present[pairs[:, 1]]]
  return _sums(graph.num_nodes, pairs, unit_rows(values)[pairs[:, 1]])


SURFACE_ENCODER = HashingEncoder(dim=1024, char_ngrams=(3,))


def surface_features(forms: Sequence[str]) -> Features:
  """Raw `surface` rows of nodes with these surface forms
  (`QueryGraph.surface_forms`; absent when empty)."""
  return Features(SURFACE_ENCODER.encode(list(forms)),
                  np.array([bool(f.strip()) for f in forms]))


@functools.lru_cache(maxsize=1)
def _multilingual_encoder() -> MultilingualEncoder:
  """One encoder per process: every graph and every new node at predict
  time reads names through the same loaded model."""
  return MultilingualEncoder()


def native_features(forms: Sequence[str],
                    cache_dir: str | None = None) -> Features:
  """Raw `native` rows of nodes with these surface forms: their
  multilingual encodings (absent when empty), cached as text features
  are (`features.encode_texts`; `cache_dir`, else the default one)."""
  return encode_texts(_multilingual_encoder(), list(forms),
                      cache_dir or default_cache_dir())


ANCHOR_DIM = 1024


def anchor_codes(graph: QueryGraph, dim: int = ANCHOR_DIM) -> Features | None:
  """Σ over each node's distinct neighbours (edges of relations no query
  asks) that belong to a seed pair of that pair's Gaussian code (seed 0,
  variance 1/dim, so inner products estimate shared-pair counts); present
  where any. Seeds are an alignment graph's `seed_pairs`; None for other
  graphs (their queries are not identity pairs)."""
  if graph.seed_pairs is None or not len(graph.seed_pairs):
    return None
  seeds = np.unique(graph.seed_pairs, axis=0)
  pair_of = np.full((graph.num_nodes,), -1, np.int64)
  pair_of[seeds[:, 0]] = np.arange(len(seeds))
  pair_of[seeds[:, 1]] = np.arange(len(seeds))
  pairs = neighbour_pairs(graph)
  pairs = pairs[(pair_of[pairs[:, 1]] >= 0) &
                (pair_of[pairs[:, 0]] != pair_of[pairs[:, 1]])]
  codes = np.random.default_rng(0).normal(
      scale=dim ** -0.5, size=(len(seeds), dim)).astype(np.float32)
  return _sums(graph.num_nodes, pairs, codes[pair_of[pairs[:, 1]]])


# The views a node's name alone gives, so that a new node at predict time
# has them too (data/featurize.py `new_node`).
NAME_VIEWS = ('surface', 'native')


def name_view_rows(view: str, forms: Sequence[str],
                   cache_dir: str | None = None) -> Features:
  """Raw rows of one of `NAME_VIEWS` for nodes with these surface forms."""
  if view == 'surface':
    return surface_features(forms)
  if view == 'native':
    return native_features(forms, cache_dir)
  raise ValueError(f'{view!r} is not a view of names; expected one of '
                   f'{NAME_VIEWS}')


def _raw_view(graph: QueryGraph, view: str,
              cache_dir: str | None) -> Features | None:
  if view not in VIEWS:
    raise ValueError(f'unknown view {view!r}; expected one of {VIEWS}')
  if view in NAME_VIEWS:
    return name_view_rows(view, graph.surface_forms, cache_dir)
  if view == 'anchors':
    return anchor_codes(graph)
  text = graph.features.get('text')
  if text is None:
    return None
  return neighbour_sums(graph, text.values, text.present)


def add_views(graph: QueryGraph, views: Sequence[str], k: int,
              unification: str = 'pca',
              cache_dir: str | None = None) -> QueryGraph:
  """`graph` with the derived `views` among its features (a view with no
  present row is left out, as a missing modality); encoded names are
  cached in `cache_dir` (else the default one)."""
  features, unifiers = dict(graph.features), dict(graph.unifiers)
  for view in views:
    raw = _raw_view(graph, view, cache_dir)
    if raw is None or not raw.present.any():
      continue
    unifier = fit_unifier(raw, k, unification)
    features[view] = unifier.apply_present(raw)
    unifiers[view] = [unifier]
  return dataclasses.replace(graph, features=features, unifiers=unifiers)
