"""Task → the one query form: a graph, its queries, candidates and filters.

Every task becomes a `QueryGraph` (host-side numpy):
- LP: the fact graph; queries `(h, r, ?)` and `(t, r⁻¹, ?)`.
- EA: the disjoint union of both graphs (relation vocabularies kept apart)
  plus training seed pairs as `same_as` edges; queries `(e1, same_as, ?)`.
- EL: the KB graph plus one edgeless node per mention carrying the mention's
  own features; queries `(mention, refers_to, ?)`.

Relations are numbered `0..R-1`, their inverses `R..2R-1`; every edge is
stored with its inverse, as ULTRA does. `edges[:, 0]` is ULTRA's
`edge_index[0]` (the node that aggregates), `edges[:, 2]` its `edge_index[1]`.
A built graph keeps its node groups' raw features; data/featurize.py
unifies them into `features`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mtaimkg_jax.data.features import Unifier
from mtaimkg_jax.data.mmkg import EATask, ELTask, Features, LPTask, MMKG
from mtaimkg_jax.types import ENTITY, MENTION

# Meta-relations of the relation graph (ULTRA's order).
HEAD_TO_HEAD, TAIL_TO_TAIL, HEAD_TO_TAIL, TAIL_TO_HEAD = 0, 1, 2, 3


@dataclasses.dataclass
class QuerySet:
  """Queries `(nodes, relations, ?)` with their gold `answers` (int64 [Q])."""
  nodes: np.ndarray
  relations: np.ndarray
  answers: np.ndarray

  def __len__(self) -> int:
    return len(self.nodes)

  def take(self, index: np.ndarray) -> 'QuerySet':
    return QuerySet(self.nodes[index], self.relations[index],
                    self.answers[index])


@dataclasses.dataclass
class KnownAnswers:
  """All true `(node, relation, answer)` facts, for filtering and strict
  negatives, as sorted keys for vectorised look-up."""
  keys: np.ndarray  # int64, sorted: node * num_relations + relation
  answers: np.ndarray  # int64, aligned with keys
  num_relations: int

  @classmethod
  def from_triples(cls, triples: np.ndarray,
                   num_relations: int) -> 'KnownAnswers':
    triples = np.unique(triples, axis=0)
    keys = triples[:, 0] * num_relations + triples[:, 1]
    order = np.lexsort((triples[:, 2], keys))
    return cls(keys[order], triples[order, 2], num_relations)

  def lookup(self, nodes: np.ndarray, relations: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Returns (query row, answer) for every known answer of each query."""
    keys = nodes.astype(np.int64) * self.num_relations + relations
    lo = np.searchsorted(self.keys, keys, 'left')
    hi = np.searchsorted(self.keys, keys, 'right')
    counts = hi - lo
    rows = np.repeat(np.arange(len(keys)), counts)
    offsets = np.repeat(lo - np.cumsum(counts) + counts, counts)
    return rows, self.answers[offsets + np.arange(counts.sum())]


@dataclasses.dataclass(frozen=True)
class NodeGroup:
  """Consecutive nodes whose raw features come from one source (a KG, or
  one split's mentions): their count, texts, and the raw features their
  files gave per modality (data/featurize.py unifies them)."""
  count: int
  texts: tuple[str, ...]
  raw: dict[str, Features] = dataclasses.field(default_factory=dict)

  @classmethod
  def of_kg(cls, kg: MMKG) -> NodeGroup:
    return cls(kg.num_entities, tuple(kg.texts), dict(kg.features))


@dataclasses.dataclass
class QueryGraph:
  """One graph of the one query form, with everything needed to query it."""
  key: str
  task: str
  num_nodes: int
  num_base_relations: int
  edges: np.ndarray  # int64 [E, 3] (aggregating node, relation, neighbour)
  relation_edges: np.ndarray  # int64 [Er, 3] (relation, meta, relation)
  # Unified features per modality (empty until data/featurize.py runs).
  features: dict[str, Features]
  node_names: list[str]
  relation_names: list[str]
  candidates: np.ndarray  # bool [N]: eval candidates
  negative_pool: np.ndarray  # bool [N]: where training negatives come from
  queries: dict[str, QuerySet]
  known: KnownAnswers
  node_tokens: list[str] = dataclasses.field(default_factory=list)
  # int8 [N] `types.ENTITY` or `types.MENTION` per node (None: entities
  # only), and each node's surface form: an entity's name, the mention
  # string of a mention node.
  node_kind: np.ndarray | None = None
  surface_forms: list[str] = dataclasses.field(default_factory=list)
  # The node groups in node order, unified together (one encoder) or each
  # on its own; and the unifiers featurize fitted per modality and group
  # (one when joint), which place new nodes at predict time.
  node_groups: tuple[NodeGroup, ...] = ()
  joint_features: bool = True
  unifiers: dict[str, list[Unifier]] = dataclasses.field(default_factory=dict)
  # Splits ranked among other candidates than `candidates` (EA validation:
  # the counterparts of the validation and the test pairs).
  split_candidates: dict[str, np.ndarray] = dataclasses.field(
      default_factory=dict)
  # int64 [S, 2] the training seed pairs (node, counterpart) of an
  # alignment graph, the `same_as` edges; None where queries are no
  # identity pairs (data/views.py `anchors`).
  seed_pairs: np.ndarray | None = None
  # {check: count} of suspicious but legal data in the files the graph was
  # built from (data/hygiene.py), and under 'coverage' how many nodes have
  # each modality and what each optional file covers (loading.py); written
  # to the workdir's data_report.json.
  hygiene: dict[str, int | dict] = dataclasses.field(default_factory=dict)
  # float32 [num_relations, F] and [F]: how much each modality says about
  # each relation's facts, and the graph's mean (data/evidence.py); None
  # until computed.
  evidence: np.ndarray | None = None
  evidence_mean: np.ndarray | None = None

  def __post_init__(self):
    if self.node_kind is None:
      self.node_kind = np.full((self.num_nodes,), ENTITY, np.int8)
    if not self.surface_forms:
      self.surface_forms = list(self.node_names)

  def with_subset(self, split: str, size: int) -> QueryGraph:
    """This graph with a fixed, seeded subset of `size` of `split`'s
    queries (all of them when there are fewer), in query order."""
    queries = self.queries[split]
    if len(queries) <= size:
      return self
    kept = np.sort(np.random.default_rng(0).permutation(len(queries))[:size])
    return dataclasses.replace(
        self, queries={**self.queries, split: queries.take(kept)})

  def for_split(self, split: str) -> QueryGraph:
    """This graph with `split`'s evaluation candidates."""
    if split not in self.split_candidates:
      return self
    return dataclasses.replace(self, candidates=self.split_candidates[split])

  @property
  def num_relations(self) -> int:
    return 2 * self.num_base_relations

  @property
  def num_edges(self) -> int:
    return len(self.edges)

  def edge_keys(self) -> np.ndarray:
    return _edge_keys(self.edges, self.num_relations, self.num_nodes)


def _edge_keys(edges: np.ndarray, num_relations: int,
               num_nodes: int) -> np.ndarray:
  return (edges[:, 0] * num_relations + edges[:, 1]) * num_nodes + edges[:, 2]


def with_inverses(triples: np.ndarray, num_base_relations: int) -> np.ndarray:
  """`(h, r, t)` → `(h, r, t)` followed by `(t, r + R, h)`."""
  inverse = np.stack([triples[:, 2], triples[:, 1] + num_base_relations,
                      triples[:, 0]], axis=1)
  return np.concatenate([triples, inverse]).astype(np.int64)


def sorted_edges(edges: np.ndarray) -> np.ndarray:
  """Edges ordered by (aggregating node, neighbour, relation), as ULTRA's
  rspmm kernel requires: each node sums its messages in neighbour order,
  so structurally equal nodes get bitwise equal states (exact ties), and
  segment sums see sorted segment ids."""
  return edges[np.lexsort((edges[:, 1], edges[:, 2], edges[:, 0]))]


def inverse_relation(relations: np.ndarray,
                     num_base_relations: int) -> np.ndarray:
  return np.where(relations < num_base_relations,
                  relations + num_base_relations,
                  relations - num_base_relations)


def _pairs_sharing(a_entity: np.ndarray, a_relation: np.ndarray,
                   b_entity: np.ndarray, b_relation: np.ndarray,
                   num_relations: int) -> np.ndarray:
  """Unique (a_relation, b_relation) pairs with a common entity."""
  order = np.argsort(b_entity, kind='stable')
  b_entity, b_relation = b_entity[order], b_relation[order]
  lo = np.searchsorted(b_entity, a_entity, 'left')
  hi = np.searchsorted(b_entity, a_entity, 'right')
  counts = hi - lo
  left = np.repeat(a_relation, counts)
  offsets = np.repeat(lo - np.cumsum(counts) + counts, counts)
  right = b_relation[offsets + np.arange(counts.sum())]
  keys = np.unique(left * num_relations + right)
  return np.stack([keys // num_relations, keys % num_relations], axis=1)


def build_relation_graph(edges: np.ndarray, num_relations: int) -> np.ndarray:
  """ULTRA's graph of relations: int64 [Er, 3] rows `(r1, meta, r2)`.

  `r1 —hh→ r2` when some entity is the head of both, `tt` tail of both,
  `ht` head of r1 and tail of r2, `th` tail of r1 and head of r2. Built
  from the graph with inverse edges, as ULTRA does.
  """
  heads = np.unique(edges[:, [0, 1]], axis=0)
  tails = np.unique(edges[:, [2, 1]], axis=0)
  parts = []
  for meta, (a, b) in ((HEAD_TO_HEAD, (heads, heads)),
                       (TAIL_TO_TAIL, (tails, tails)),
                       (HEAD_TO_TAIL, (heads, tails)),
                       (TAIL_TO_HEAD, (tails, heads))):
    pairs = _pairs_sharing(a[:, 0], a[:, 1], b[:, 0], b[:, 1], num_relations)
    parts.append(np.stack([pairs[:, 0], np.full(len(pairs), meta),
                           pairs[:, 1]], axis=1))
  return sorted_edges(np.concatenate(parts).astype(np.int64))


def _lp_queries(triples: np.ndarray, num_base: int) -> QuerySet:
  inverse = with_inverses(triples, num_base)
  return QuerySet(inverse[:, 0], inverse[:, 1], inverse[:, 2])


def build_lp(task: LPTask) -> QueryGraph:
  kg = task.kg
  num_base = kg.num_relations
  edges = sorted_edges(with_inverses(kg.all_triples(task.fact_splits),
                                     num_base))
  queries = {}
  if task.train_split is not None:
    queries['train'] = _lp_queries(kg.triples[task.train_split], num_base)
  for name, splits in task.eval_splits.items():
    queries[name] = _lp_queries(kg.all_triples(splits), num_base)
  known = KnownAnswers.from_triples(
      with_inverses(kg.all_triples(task.filter_splits), num_base),
      2 * num_base)
  everything = np.ones((kg.num_entities,), bool)
  rel_names = kg.relation_names or list(kg.relations.tokens)
  return QueryGraph(
      key=f'lp/{task.key}' if not task.key.startswith('lp/') else task.key,
      task='lp', num_nodes=kg.num_entities, num_base_relations=num_base,
      edges=edges, relation_edges=build_relation_graph(edges, 2 * num_base),
      features={}, node_groups=(NodeGroup.of_kg(kg),),
      node_names=list(kg.names),
      relation_names=rel_names + [f'inverse of {r}' for r in rel_names],
      candidates=everything, negative_pool=everything, queries=queries,
      known=known, node_tokens=list(kg.entities.tokens))


def build_ea(task: EATask, joint_features: bool = True) -> QueryGraph:
  """Union graph; `same_as` is relation `R1 + R2`. `joint_features` unifies
  both graphs' features together when they come from one encoder."""
  kg1, kg2 = task.kg1, task.kg2
  n1, r1 = kg1.num_entities, kg1.num_relations
  num_base = r1 + kg2.num_relations + 1
  same_as = num_base - 1
  offset = np.array([n1, r1, n1])
  seeds = np.stack([task.train_pairs[:, 0], np.full(len(task.train_pairs),
                                                    same_as),
                    task.train_pairs[:, 1] + n1], axis=1)
  base = np.concatenate([kg1.all_triples(), kg2.all_triples() + offset, seeds])
  edges = sorted_edges(with_inverses(base.astype(np.int64), num_base))

  def pair_queries(pairs: np.ndarray) -> QuerySet:
    return QuerySet(pairs[:, 0].astype(np.int64),
                    np.full(len(pairs), same_as, np.int64),
                    pairs[:, 1].astype(np.int64) + n1)

  queries = {'train': pair_queries(task.train_pairs),
             'test': pair_queries(task.test_pairs)}
  if len(task.valid_pairs):
    queries['valid'] = pair_queries(task.valid_pairs)
  all_pairs = np.concatenate([task.train_pairs, task.valid_pairs,
                              task.test_pairs])
  known = KnownAnswers.from_triples(
      with_inverses(
          np.stack([all_pairs[:, 0], np.full(len(all_pairs), same_as),
                    all_pairs[:, 1] + n1], axis=1), num_base), 2 * num_base)
  num_nodes = n1 + kg2.num_entities
  candidates = np.zeros((num_nodes,), bool)
  if task.candidates == 'all':
    candidates[n1:] = True
  else:
    candidates[task.test_pairs[:, 1] + n1] = True
  split_candidates = {}
  if len(task.valid_pairs) and task.candidates != 'all':
    split_candidates['valid'] = candidates.copy()
    split_candidates['valid'][task.valid_pairs[:, 1] + n1] = True
  negative_pool = np.zeros((num_nodes,), bool)
  negative_pool[n1:] = True
  names1 = kg1.relation_names or kg1.relations.tokens
  names2 = kg2.relation_names or kg2.relations.tokens
  rel_names = ([f'g1:{r}' for r in names1] + [f'g2:{r}' for r in names2] +
               ['same_as'])
  return QueryGraph(
      key=task.key if task.key.startswith('ea/') else f'ea/{task.key}',
      task='ea', num_nodes=num_nodes, num_base_relations=num_base,
      edges=edges, relation_edges=build_relation_graph(edges, 2 * num_base),
      features={}, node_groups=(NodeGroup.of_kg(kg1), NodeGroup.of_kg(kg2)),
      joint_features=joint_features,
      node_names=list(kg1.names) + list(kg2.names),
      relation_names=rel_names + [f'inverse of {r}' for r in rel_names],
      candidates=candidates, negative_pool=negative_pool, queries=queries,
      known=known, split_candidates=split_candidates,
      node_tokens=list(kg1.entities.tokens) + list(kg2.entities.tokens),
      seed_pairs=np.stack([task.train_pairs[:, 0],
                           task.train_pairs[:, 1] + n1], axis=1).astype(
                               np.int64))


def build_el(task: ELTask) -> QueryGraph:
  """KB graph + edgeless mention nodes; `refers_to` is relation `R_kb`."""
  kb = task.kb
  n_kb = kb.num_entities
  num_base = kb.num_relations + 1
  refers_to = num_base - 1
  edges = sorted_edges(with_inverses(kb.all_triples(), num_base))
  splits = list(task.mentions)
  queries, start = {}, n_kb
  groups = [NodeGroup.of_kg(kb)]
  names = list(kb.names)
  surfaces = list(kb.names)
  all_queries = []
  for split in splits:
    mentions = task.mentions[split]
    nodes = np.arange(start, start + len(mentions), dtype=np.int64)
    queries[split] = QuerySet(nodes, np.full(len(mentions), refers_to,
                                             np.int64),
                              mentions.answers.astype(np.int64))
    all_queries.append(queries[split])
    groups.append(NodeGroup(len(mentions), tuple(mentions.texts),
                            dict(mentions.features)))
    names.extend(mentions.texts)
    surfaces.extend(mentions.surface_forms())
    start += len(mentions)
  num_nodes = start
  facts = np.concatenate([
      np.stack([q.nodes, q.relations, q.answers], axis=1)
      for q in all_queries
  ]) if all_queries else np.zeros((0, 3), np.int64)
  known = KnownAnswers.from_triples(with_inverses(facts, num_base),
                                    2 * num_base)
  candidates = np.zeros((num_nodes,), bool)
  candidates[:n_kb] = task.candidates
  node_kind = np.full((num_nodes,), MENTION, np.int8)
  node_kind[:n_kb] = ENTITY
  rel_names = list(kb.relation_names or kb.relations.tokens) + ['refers_to']
  return QueryGraph(
      key=task.key if task.key.startswith('el/') else f'el/{task.key}',
      task='el', num_nodes=num_nodes, num_base_relations=num_base,
      edges=edges, relation_edges=build_relation_graph(edges, 2 * num_base),
      features={}, node_groups=tuple(groups), node_names=names,
      relation_names=rel_names + [f'inverse of {r}' for r in rel_names],
      candidates=candidates, negative_pool=candidates.copy(),
      queries=queries, known=known,
      node_tokens=list(kb.entities.tokens) +
      [f'mention:{i}' for i in range(num_nodes - n_kb)],
      node_kind=node_kind, surface_forms=surfaces)


def removal_edges(graph: QueryGraph, queries: QuerySet) -> np.ndarray:
  """Edge ids of each query's own fact and its inverse (ULTRA removes them
  from the graph while training on that query)."""
  keys = graph.edge_keys()
  order = np.argsort(keys, kind='stable')
  sorted_keys = keys[order]
  inverse = inverse_relation(queries.relations, graph.num_base_relations)
  wanted = np.concatenate([
      _edge_keys(np.stack([queries.nodes, queries.relations, queries.answers],
                          1), graph.num_relations, graph.num_nodes),
      _edge_keys(np.stack([queries.answers, inverse, queries.nodes], 1),
                 graph.num_relations, graph.num_nodes)
  ])
  lo = np.searchsorted(sorted_keys, wanted, 'left')
  hi = np.searchsorted(sorted_keys, wanted, 'right')
  counts = hi - lo
  offsets = np.repeat(lo - np.cumsum(counts) + counts, counts)
  return order[offsets + np.arange(counts.sum())]
