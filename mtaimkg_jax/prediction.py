"""`--mode=predict`: one query given by names → the top answers with names.

- LP: `head|relation|?` or `?|relation|tail` (tokens or readable names).
- EA: an entity of graph 1 → its counterparts in graph 2.
- EL: a mention sentence. An existing mention is used as it is; a new one
  becomes an extra node (the graph's first padding node) whose text is
  encoded and unified with the graph's own fitted unifier.
"""

from __future__ import annotations

import difflib
from typing import Any

import jax
import ml_collections
import numpy as np

from mtaimkg_jax import parallel
from mtaimkg_jax.data import padding, views
from mtaimkg_jax.data.batches import pad_queries
from mtaimkg_jax.data.features import (default_cache_dir, encode_texts,
                                       make_text_encoder)
from mtaimkg_jax.data.graph import QueryGraph, QuerySet
from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.models.model import routed_of


def _lookup(what: str, text: str, tokens: list[str], names: list[str],
            allowed: np.ndarray | None = None) -> int:
  """Exact token, then exact name, then case-insensitive name."""
  allowed = (np.ones(len(tokens), bool) if allowed is None else allowed)
  for table, fold in ((tokens, False), (names, False), (names, True)):
    key = text.lower() if fold else text
    for i, value in enumerate(table):
      if allowed[i] and (value.lower() if fold else value) == key:
        return i
  pool = [n for n, a in zip(names, allowed) if a]
  close = difflib.get_close_matches(text, pool, n=5)
  raise ConfigError('query', f'unknown {what} {text!r}' +
                    (f'; did you mean {close}?' if close else ''))


def parse_query(graph: QueryGraph, query: str) -> tuple[int, int, str | None]:
  """→ (node, relation, new mention text or None)."""
  if not query or not query.strip():
    raise ConfigError('query', 'predict needs --query')
  num_base = graph.num_base_relations
  if graph.task == 'lp':
    parts = [p.strip() for p in query.split('|')]
    if len(parts) != 3 or (parts[0] == '?') == (parts[2] == '?'):
      raise ConfigError('query', "LP queries look like 'head|relation|?' or "
                        f"'?|relation|tail', got {query!r}")
    relation_tokens = [str(i) for i in range(graph.num_relations)]
    relation = _lookup('relation', parts[1], relation_tokens,
                       graph.relation_names)
    if parts[2] == '?':
      return _lookup('entity', parts[0], graph.node_tokens,
                     graph.node_names), relation, None
    inverse = relation + num_base if relation < num_base else relation - (
        num_base)
    return _lookup('entity', parts[2], graph.node_tokens,
                   graph.node_names), inverse, None
  if graph.task == 'ea':
    node = _lookup('graph-1 entity', query.strip(), graph.node_tokens,
                   graph.node_names, ~graph.negative_pool)
    return node, num_base - 1, None
  mention = f'mention: {query.strip()}'
  for i, name in enumerate(graph.node_names):
    if name == mention or name.startswith(f'mention: {query.strip()} |'):
      return i, num_base - 1, None
  return graph.num_nodes, num_base - 1, query.strip()


def _with_new_mention(config: ml_collections.ConfigDict, graph: QueryGraph,
                      arrays: padding.GraphArrays, text: str):
  """Puts a new mention's unified text features on the first padding node."""
  unifiers = graph.unifiers.get('text')
  if not unifiers or graph.features.get('text') is None:
    raise ConfigError('query', f'{graph.key} has no text features to place '
                      'a new mention; quote an existing mention instead')
  encoder = make_text_encoder(config.features.text_encoder)
  raw = encode_texts(encoder, [text], config.data.cache_dir or
                     default_cache_dir())
  unifier = unifiers[-1]
  if raw.values.shape[1] != unifier.mean.shape[0]:
    raise ConfigError('features.text_encoder', 'the encoder differs from the '
                      "one the graph's text features came from")
  rows = {'text': unifier.apply(raw.values)[0]}
  if graph.unifiers.get('surface'):
    # The name-trigram view, if the model reads it (the neighbours view
    # stays absent: the new mention has no edges).
    surface = views.surface_features([f'mention: {text}'])
    rows['surface'] = graph.unifiers['surface'][0].apply(surface.values)[0]
  nodes = dict(arrays.entity.nodes)
  for modality, row in rows.items():
    values, present = (np.array(nodes[modality]),
                       np.array(nodes[f'{modality}_present']))
    values[graph.num_nodes], present[graph.num_nodes] = row, True
    nodes.update({modality: values, f'{modality}_present': present})
  return arrays._replace(entity=arrays.entity._replace(nodes=nodes))


def predict_query(config: ml_collections.ConfigDict, model, params: Any,
                  graph: QueryGraph, budget: padding.Budget, query: str,
                  top_k: int, mesh) -> dict:
  node, relation, new_text = parse_query(graph, query)
  arrays = padding.graph_arrays(graph, budget, config.features.k)
  if new_text is not None:
    arrays = _with_new_mention(config, graph, arrays, new_text)
  queries = pad_queries(
      QuerySet(np.array([node]), np.array([relation]), np.array([0])),
      graph.task, config.eval.batch_size)
  logits_fn = jax.jit(lambda p, g, q: model.apply({'params': p}, g, q))
  output = logits_fn(params, parallel.replicate(arrays, mesh),
                     parallel.replicate(queries, mesh))
  scores = np.asarray(output.logits)[0, :graph.num_nodes]
  scores = np.where(graph.candidates, scores, -np.inf)
  top = np.argsort(-scores, kind='stable')[:top_k]
  asked = (new_text if new_text is not None else graph.node_names[node])
  return {
      'dataset': graph.key,
      'query': {'node': asked, 'relation': graph.relation_names[relation]},
      'answers': [{'rank': i + 1, 'name': graph.node_names[c],
                   'id': graph.node_tokens[c], 'score': float(scores[c])}
                  for i, c in enumerate(top)],
      'routing': dict(zip(routed_of(config), map(float,
                                      np.asarray(output.routing)[0]))),
  }
