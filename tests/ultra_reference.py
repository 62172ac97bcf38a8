"""An independent numpy ULTRA, written from ULTRA's PyTorch code, for tests.

Batch-major `[B, N, D]` (as PyTorch ULTRA), edges as `edge_index [2, E]` and
`edge_type [E]`, aggregation with `np.add.at` at `edge_index[0]` (ULTRA's
rspmm direction), torch-named parameters. Shares no code with the project.
"""

from __future__ import annotations

import numpy as np


def layer_norm(x, weight, bias, eps=1e-5):
  mean = x.mean(-1, keepdims=True)
  var = ((x - mean)**2).mean(-1, keepdims=True)
  return (x - mean) / np.sqrt(var + eps) * weight + bias


def conv(state, prefix, h, boundary, relation, edge_index, edge_type):
  """One GeneralizedRelationalConv: relation is [B, R, D]."""
  batch, num_nodes, dim = h.shape
  aggregate = np.zeros_like(h)
  messages = h[:, edge_index[1]] * relation[:, edge_type]
  np.add.at(aggregate, (slice(None), edge_index[0]), messages)
  aggregate = aggregate + boundary
  x = np.concatenate([h, aggregate], -1) @ state[f'{prefix}.linear.weight'].T
  x = x + state[f'{prefix}.linear.bias']
  x = layer_norm(x, state[f'{prefix}.layer_norm.weight'],
                 state[f'{prefix}.layer_norm.bias'])
  return np.maximum(x, 0.0)


def relation_gnn(state, rel_edge_index, rel_edge_type, num_relations,
                 condition, num_layers=6, return_layers=False):
  batch = len(condition)
  dim = state['relation_model.layers.0.linear.bias'].shape[0]
  boundary = np.zeros((batch, num_relations, dim))
  boundary[np.arange(batch), condition] = 1.0
  h, layers = boundary, []
  for i in range(num_layers):
    prefix = f'relation_model.layers.{i}'
    relation = np.broadcast_to(state[f'{prefix}.relation.weight'],
                               (batch, 4, dim))
    h = conv(state, prefix, h, boundary, relation, rel_edge_index,
             rel_edge_type) + h
    layers.append(h)
  return (h, layers) if return_layers else h


def entity_gnn(state, relations, edge_index, edge_type, num_nodes, heads,
               query_relations, num_layers=6, return_layers=False):
  batch = len(heads)
  query = relations[np.arange(batch), query_relations]
  boundary = np.zeros((batch, num_nodes, query.shape[-1]))
  boundary[np.arange(batch), heads] = query
  h, layers = boundary, []
  for i in range(num_layers):
    prefix = f'entity_model.layers.{i}'
    p = f'{prefix}.relation_projection'
    projected = np.maximum(
        relations @ state[f'{p}.0.weight'].T + state[f'{p}.0.bias'], 0.0)
    projected = projected @ state[f'{p}.2.weight'].T + state[f'{p}.2.bias']
    h = conv(state, prefix, h, boundary, projected, edge_index, edge_type) + h
    layers.append(h)
  features = np.concatenate(
      [h, np.broadcast_to(query[:, None], h.shape)], -1)
  x = np.maximum(features @ state['entity_model.mlp.0.weight'].T +
                 state['entity_model.mlp.0.bias'], 0.0)
  scores = (x @ state['entity_model.mlp.2.weight'].T +
            state['entity_model.mlp.2.bias'])[..., 0]
  return (scores, layers) if return_layers else scores


def build_relation_graph(edge_index, edge_type, num_relations):
  """ULTRA's four meta-relations, by brute force over entities."""
  heads, tails = {}, {}
  for (h, t), r in zip(edge_index.T.tolist(), edge_type.tolist()):
    heads.setdefault(h, set()).add(r)
    tails.setdefault(t, set()).add(r)
  edges = set()
  nodes = set(heads) | set(tails)
  for e in nodes:
    for meta, (a, b) in enumerate(((heads, heads), (tails, tails),
                                   (heads, tails), (tails, heads))):
      for r1 in a.get(e, ()):
        for r2 in b.get(e, ()):
          edges.add((r1, r2, meta))
  edges = sorted(edges)
  index = np.array([[a for a, _, _ in edges], [b for _, b, _ in edges]])
  return index.reshape(2, -1), np.array([m for _, _, m in edges], np.int64)


def random_state(rng, dim=8, num_layers=2):
  """Random torch-named ULTRA parameters of a small size."""
  state = {}

  def add(name, *shape):
    state[name] = rng.normal(0, 0.5, shape).astype(np.float32)

  for model in ('relation_model', 'entity_model'):
    for i in range(num_layers):
      prefix = f'{model}.layers.{i}'
      add(f'{prefix}.linear.weight', dim, 2 * dim)
      add(f'{prefix}.linear.bias', dim)
      add(f'{prefix}.layer_norm.weight', dim)
      add(f'{prefix}.layer_norm.bias', dim)
      if model == 'relation_model':
        add(f'{prefix}.relation.weight', 4, dim)
      else:
        for j in (0, 2):
          add(f'{prefix}.relation_projection.{j}.weight', dim, dim)
          add(f'{prefix}.relation_projection.{j}.bias', dim)
  add('entity_model.mlp.0.weight', 2 * dim, 2 * dim)
  add('entity_model.mlp.0.bias', 2 * dim)
  add('entity_model.mlp.2.weight', 1, 2 * dim)
  add('entity_model.mlp.2.bias', 1)
  return state
