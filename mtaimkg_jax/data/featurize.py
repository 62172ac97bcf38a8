"""The featurize stage: a built graph's raw node features → the unified
features the model reads, and the same for one new node at predict time.

A built `QueryGraph` lists its node groups (`graph.NodeGroup`: one KG, or
one split's mentions) with the raw features their files gave. `featurize`
encodes the text of groups that have none, unifies each modality (all
groups together when they share an encoder, `joint_features`, else each
group on its own: data/features.py) and adds the derived views
(data/views.py). `new_node` maps a node the graph never held (an EL
mention typed at predict time) through the same encoder, unifiers and
name views, so it lands where a node of its group with that text does.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import ml_collections
import numpy as np

from mtaimkg_jax.data import views as views_lib
from mtaimkg_jax.data.features import (Unifier, default_cache_dir,
                                       encode_texts, fit_unifier,
                                       make_text_encoder)
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.data.mmkg import Features
from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.types import MODALITIES

# Texts → raw text features (one row per text; absent where empty).
TextEncoding = Callable[[list[str]], Features]


def text_encoding(config: ml_collections.ConfigDict) -> TextEncoding:
  """`config.features.text_encoder` with the disk cache, built on first use
  (MiniLM loads slowly; graphs whose text comes from files never load it)."""
  encoder = None

  def encode(texts: list[str]) -> Features:
    nonlocal encoder
    if encoder is None:
      encoder = make_text_encoder(config.features.text_encoder)
    return encode_texts(encoder, texts, cache_directory(config))

  return encode


def views_of(config: ml_collections.ConfigDict, task: str) -> tuple[str, ...]:
  """The derived views `config` gives graphs of `task`."""
  return tuple(v for v in config.features.views
               if task in config.features.view_tasks[v])


def from_config(config: ml_collections.ConfigDict,
                graph: QueryGraph) -> QueryGraph:
  """`featurize` with `config.features`; a structure-only model
  (`model.name='ultra'`) reads no features, so no text is encoded."""
  encode = text_encoding(config) if config.model.name != 'ultra' else None
  return featurize(graph, config.features.k,
                   unification=config.features.unification,
                   views=views_of(config, graph.task), encode_text=encode,
                   cache_dir=cache_directory(config))


def cache_directory(config: ml_collections.ConfigDict) -> str:
  """Where encoded texts and names are cached: `data.cache_dir`, else the
  default cache directory."""
  return config.data.cache_dir or default_cache_dir()


def featurize(graph: QueryGraph, k: int, *, unification: str = 'pca',
              views: Sequence[str] = (),
              encode_text: TextEncoding | None = None,
              cache_dir: str | None = None) -> QueryGraph:
  """`graph` with unified `k`-dim features per modality and the derived
  `views` (names encoded for them cached in `cache_dir`), and the
  unifiers fitted per group (for `new_node`). The groups' raw features
  and texts are dropped once unified."""
  features, unifiers = {}, {}
  for modality in MODALITIES:
    raw = [_raw(group, modality, encode_text) for group in graph.node_groups]
    if all(f is None for f in raw):
      continue
    features[modality], unifiers[modality] = _unify(
        raw, [g.count for g in graph.node_groups], k, graph.joint_features,
        unification)
  groups = tuple(dataclasses.replace(g, texts=(), raw={})
                 for g in graph.node_groups)
  unified = dataclasses.replace(graph, features=features, unifiers=unifiers,
                                node_groups=groups)
  return views_lib.add_views(unified, views, k, unification, cache_dir)


def _raw(group, modality: str,
         encode_text: TextEncoding | None) -> Features | None:
  """A group's raw features of `modality`: its files', else (text) its
  texts encoded, else None."""
  given = group.raw.get(modality)
  if given is not None:
    return given
  if (modality == 'text' and encode_text is not None and
      any(t.strip() for t in group.texts)):
    return encode_text(list(group.texts))
  return None


def _unify(raw: list[Features | None], counts: list[int], k: int,
           joint: bool, method: str) -> tuple[Features, list[Unifier]]:
  """One modality's groups → unified features over all nodes, with the
  fitted unifier of each group (one when unified jointly; None for a group
  without the modality). Joint only when every present group has one
  dimension (one encoder)."""
  dims = {f.dim for f in raw if f is not None}
  if joint and len(dims) == 1:
    dim = dims.pop()
    stacked = Features.concat([
        f if f is not None else Features.absent(c, dim)
        for f, c in zip(raw, counts)
    ])
    unifier = fit_unifier(stacked, k, method)
    return unifier.apply_present(stacked), [unifier]
  unifiers = [fit_unifier(f, k, method) if f is not None else None
              for f in raw]
  return Features.concat([
      u.apply_present(f) if f is not None else Features.absent(c, k)
      for u, f, c in zip(unifiers, raw, counts)
  ]), unifiers


def new_node(graph: QueryGraph, text: str, encode_text: TextEncoding,
             cache_dir: str | None = None) -> dict[str, np.ndarray]:
  """Unified rows ({modality: [k]}) of a node named `text` that the graph
  does not hold, as one of its last node group (an EL mention): its text
  encoded and unified by that group's unifier, and each view a name alone
  gives, read from the whole text (a typed mention has no separate span;
  views that need edges stay absent: the node has none)."""
  unifiers = graph.unifiers.get('text')
  if not unifiers or unifiers[-1] is None:
    raise ConfigError('query', f'{graph.key} has no text features to place '
                      'a new mention; quote an existing mention instead')
  raw = encode_text([text])
  if raw.values.shape[1] != unifiers[-1].mean.shape[0]:
    raise ConfigError('features.text_encoder', 'the encoder differs from '
                      "the one the graph's text features came from")
  rows = {'text': unifiers[-1].apply(raw.values)[0]}
  for view in views_lib.NAME_VIEWS:
    if view in graph.unifiers:
      raw = views_lib.name_view_rows(view, [text], cache_dir)
      rows[view] = graph.unifiers[view][0].apply(raw.values)[0]
  return rows
