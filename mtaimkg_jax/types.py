"""Names and array types shared by `data/` and `models/`.

The one list of task kinds and of modalities, and the pytrees that cross
from the host-side data pipeline to the jitted model: a padded graph
(`GraphArrays`) and the query batches. Everything here is plain data, so
both layers import it without importing each other.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mtaimkg_jax.data.jraph_utils import GraphsTuple

# Task kinds, in the order of their ids (the model's task embedding rows).
TASKS = ('lp', 'ea', 'el')
TASK_IDS = {task: i for i, task in enumerate(TASKS)}

# Raw modalities a dataset may carry, and the views derived from a graph's
# own features, names and edges (data/views.py). A padded graph carries
# arrays for every one of `ALL_MODALITIES`, in this order.
MODALITIES = ('text', 'image')
VIEWS = ('neighbours', 'surface', 'anchors', 'native')
ALL_MODALITIES = MODALITIES + VIEWS
# What a graph's node is (`QueryGraph.node_kind`): an entity of a
# knowledge graph, or an EL mention (an edgeless node of its own).
ENTITY, MENTION = 0, 1
# `model.without` entries besides modality names: the backbone alone (no
# modality anywhere), or one path of the modalities (the edge gates inside
# message passing, the modality terms of the logit).
WITHOUT_MODALITIES = 'modalities'
WITHOUT_EDGE_GATES = 'edge_gates'
WITHOUT_MODALITY_TERMS = 'modality_terms'
ABLATIONS = (WITHOUT_MODALITIES, WITHOUT_EDGE_GATES, WITHOUT_MODALITY_TERMS)


class GraphArrays(NamedTuple):
  """A padded graph as device-ready arrays (a pytree; one per budget shape).

  `entity.senders → entity.receivers` is the direction messages flow:
  receivers are ULTRA's `edge_index[0]` (the aggregating node).
  """
  entity: GraphsTuple
  relation: GraphsTuple
  num_base_relations: np.ndarray  # int32 scalar
  modality_available: np.ndarray  # bool [M]: has ALL_MODALITIES[m]
  # int32 [1]: the relation every query of this graph conditions on (EA:
  # same_as, EL: refers_to), so the relation GNN runs once, not per query;
  # int32 [0] when queries differ (LP). Its shape is static per graph.
  shared_condition: np.ndarray
  # bool [1] when, besides sharing the condition, no query node has an edge
  # (EL: mentions are edgeless), so every other node's state is the same
  # for all queries and one entity-GNN run serves the batch; [0] otherwise.
  isolated_queries: np.ndarray
  # int32 [K] the reference queries' nodes of a one-to-one task's graph
  # (`padding.reference_nodes`); [0] otherwise. Static shape per graph.
  references: np.ndarray
  # float32 [R_pad, F] per relation and [F] the graph's mean: what each
  # modality's terms rank of the fact graph's own edges (data/evidence.py),
  # read by the router; zeros on padding relations.
  evidence: np.ndarray
  evidence_mean: np.ndarray


class Queries(NamedTuple):
  nodes: np.ndarray  # int32 [B]
  relations: np.ndarray  # int32 [B]
  answers: np.ndarray  # int32 [B]
  task: np.ndarray  # int32 [B]: TASK_IDS of each query's task
  valid: np.ndarray  # bool [B]: False on padding queries


class TrainBatch(NamedTuple):
  queries: Queries
  candidates: np.ndarray  # int32 [B, C]; column 0 is the answer
  candidate_valid: np.ndarray  # bool [B, C]
  edge_weight: np.ndarray  # float32 [E_pad]: 0 on padding / removed edges


class EvalBatch(NamedTuple):
  queries: Queries  # one row per (node, relation) group; answers: the first
  answers: np.ndarray  # int32 [B, A]: the row's answers, padded
  answer_valid: np.ndarray  # bool [B, A]: False on padding answers and rows
  exclude: np.ndarray  # bool [B, N_pad]: every known answer (filtered)
  # int32 [B, A]: each answer's index among its split's queries (-1 on
  # padding), so every rank is kept with the query it belongs to.
  query_ids: np.ndarray
