"""Static shapes: padding budgets and the device-side arrays of a graph.

Each `QueryGraph` is padded to a `Budget` (nodes, edges, relations,
relation-graph edges), each rounded up to a few geometric buckets, so a
whole training run compiles once per budget. Padding nodes, edges and
relations are masked out of every sum, score and metric.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from mtaimkg_jax.data import evidence as evidence_lib
from mtaimkg_jax.data import jraph_utils
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.data.tasks import KINDS
from mtaimkg_jax.errors import BudgetError, ConfigError
from mtaimkg_jax.types import ALL_MODALITIES, GraphArrays

# Bucket sizes are m * 2**e for these mantissas: at most 25% padding waste.
_MANTISSAS = (1.0, 1.25, 1.5, 1.75)
_MINIMUM = 8


@dataclasses.dataclass(frozen=True, order=True)
class Budget:
  nodes: int
  edges: int
  relations: int
  relation_edges: int

  def fits(self, need: 'Budget') -> bool:
    return all(getattr(self, f.name) >= getattr(need, f.name)
               for f in dataclasses.fields(self))

  def __str__(self) -> str:
    return (f'nodes={self.nodes}, edges={self.edges}, '
            f'relations={self.relations}, '
            f'relation_edges={self.relation_edges}')


def bucket(size: int) -> int:
  """The smallest bucket size ≥ `size` (buckets: {1, 1.25, 1.5, 1.75}·2^e)."""
  if size <= _MINIMUM:
    return _MINIMUM
  exponent = math.floor(math.log2(size))
  sizes = [int(m * 2**exponent) for m in _MANTISSAS] + [2**(exponent + 1)]
  return min(s for s in sizes if s >= size)


def required_budget(graph: QueryGraph) -> Budget:
  """The exact sizes a graph needs (one padding node and relation each)."""
  return Budget(nodes=graph.num_nodes + 1, edges=graph.num_edges,
                relations=graph.num_relations + 1,
                relation_edges=len(graph.relation_edges))


def choose_budget(graph: QueryGraph,
                  budgets: Sequence[Budget] = ()) -> Budget:
  """The smallest configured budget that fits, or automatic buckets.

  With configured budgets, a graph larger than all of them is an error that
  says what budget it needs.
  """
  need = required_budget(graph)
  if not budgets:
    return Budget(*(bucket(getattr(need, f.name))
                    for f in dataclasses.fields(Budget)))
  fitting = sorted(b for b in budgets if b.fits(need))
  if not fitting:
    raise BudgetError(
        f'graph {graph.key!r} needs a padding budget of at least ({need}); '
        f'the largest configured is ({max(budgets)}). Add a budget to '
        'config.padding.budgets or leave it empty for automatic buckets.')
  return fitting[0]


def candidate_index(graph: QueryGraph) -> np.ndarray:
  """int32 [bucket(C)]: the C evaluation candidates, padded with the first
  padding node (never a candidate), so ranking scores these nodes only and
  compiles once per candidate bucket."""
  index = np.flatnonzero(graph.candidates)
  size = bucket(max(len(index), 1))
  return np.concatenate([index, np.full(size - len(index), graph.num_nodes)
                        ]).astype(np.int32)


def graph_arrays(graph: QueryGraph, budget: Budget, feature_dim: int,
                 num_references: int = 0) -> GraphArrays:
  """Pads `graph` to `budget`. Every modality, derived views included,
  gets arrays (absent = zeros) so all graphs share one pytree structure;
  `num_references`: see `reference_nodes`."""
  nodes = {}
  available = []
  for modality in ALL_MODALITIES:
    features = graph.features.get(modality)
    available.append(features is not None and bool(features.present.any()))
    if features is None:
      nodes[modality] = np.zeros((graph.num_nodes, feature_dim), np.float32)
      nodes[f'{modality}_present'] = np.zeros((graph.num_nodes,), bool)
    else:
      if features.dim != feature_dim:
        raise ValueError(f'{graph.key}: {modality} features have dim '
                         f'{features.dim}, expected {feature_dim}')
      nodes[modality] = features.values.astype(np.float32)
      nodes[f'{modality}_present'] = features.present.astype(bool)
  nodes['candidate'] = graph.candidates.astype(bool)
  nodes['real'] = np.ones((graph.num_nodes,), bool)
  entity = jraph_utils.graph(
      senders=graph.edges[:, 2], receivers=graph.edges[:, 0],
      num_nodes=graph.num_nodes, nodes=nodes,
      edges={'type': graph.edges[:, 1].astype(np.int32),
             'weight': np.ones((graph.num_edges,), np.float32)})
  relation = jraph_utils.graph(
      senders=graph.relation_edges[:, 2],
      receivers=graph.relation_edges[:, 0], num_nodes=graph.num_relations,
      nodes={'real': np.ones((graph.num_relations,), bool)},
      edges={'type': graph.relation_edges[:, 1].astype(np.int32),
             'weight': np.ones((len(graph.relation_edges),), np.float32)})
  entity = jraph_utils.pad(entity, budget.nodes, budget.edges)
  relation = jraph_utils.pad(relation, budget.relations, budget.relation_edges)
  for padded in (entity, relation):
    padded.nodes['real'] = jraph_utils.node_mask(padded)
    padded.edges['weight'] = jraph_utils.edge_mask(padded).astype(np.float32)
  condition = shared_condition(graph)
  rows, mean = graph.evidence, graph.evidence_mean
  if rows is None:
    rows, mean = evidence_lib.of_graph(graph)
  evidence = np.zeros((budget.relations, rows.shape[1]), np.float32)
  evidence[:len(rows)] = rows
  return GraphArrays(entity=entity, relation=relation,
                     num_base_relations=np.asarray(graph.num_base_relations,
                                                   np.int32),
                     modality_available=np.asarray(available, bool),
                     shared_condition=condition,
                     isolated_queries=isolated_queries(graph, condition),
                     references=reference_nodes(graph, num_references),
                     evidence=evidence, evidence_mean=mean.astype(np.float32))


def reference_nodes(graph: QueryGraph, count: int) -> np.ndarray:
  """int32 [count] of a graph whose queries share one relation (EA: a
  seeded choice of training seeds' query nodes; EL: of training
  mentions), else [0]: the reference queries the model centres its
  learned terms on (`MtaIMKG.graph_side`). A score a candidate gets
  whatever the query is then part of every query's logits: with one
  answer per candidate (EA) it can only rank hubs first, and an edgeless
  EL mention's learned terms are nothing else (the same for every
  mention: a prior over the candidates, not a reading of the mention)."""
  if not count or not KINDS[graph.task].shares_condition:
    return np.zeros((0,), np.int32)
  if KINDS[graph.task].one_to_one:
    nodes, what = np.unique(graph.seed_pairs[:, 0]), 'training seeds'
  else:
    nodes, what = np.unique(graph.queries['train'].nodes), 'training queries'
  if len(nodes) < count:
    raise ConfigError('model.num_references',
                      f'{count} reference queries, but {graph.key} has '
                      f'{len(nodes)} {what}')
  chosen = np.random.default_rng(0).choice(nodes, count, replace=False)
  return np.sort(chosen).astype(np.int32)


def isolated_queries(graph: QueryGraph, condition: np.ndarray) -> np.ndarray:
  """[1] if the queries share their condition (`shared_condition(graph)`)
  and no query node of any split has an edge, else [0] (see
  `GraphArrays.isolated_queries`)."""
  nodes = np.concatenate([q.nodes for q in graph.queries.values()])
  touched = np.zeros((graph.num_nodes,), bool)
  touched[graph.edges[:, 0]] = touched[graph.edges[:, 2]] = True
  isolated = len(condition) == 1 and not touched[nodes].any()
  return np.ones((1 if isolated else 0,), bool)


def shared_condition(graph: QueryGraph) -> np.ndarray:
  """[1] the one condition relation of all queries, or [0] if they differ."""
  relations = np.concatenate([q.relations for q in graph.queries.values()])
  conditions = np.unique(relations % graph.num_base_relations)
  if len(conditions) == 1 and KINDS[graph.task].shares_condition:
    return conditions.astype(np.int32)
  return np.zeros((0,), np.int32)
