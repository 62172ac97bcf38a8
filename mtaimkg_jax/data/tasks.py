"""The task registry: one `TaskKind` per task (lp, ea, el).

Everything that differs between link prediction, entity alignment and
entity linking is a field here: how a dataset loads, how its graph is
built, how training draws negatives and which loss it uses, whether
ranking also matches one-to-one, whether the logit carries a names prior
(and so a learned-term scale to calibrate), which parameter-free baseline
is its floor, and how a user's query is read. Code elsewhere asks the
kind (`KINDS[graph.task]`) instead of branching on the task's name.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Callable, NamedTuple

import ml_collections
import numpy as np

from mtaimkg_jax import types
from mtaimkg_jax.data import datasets, graph as graph_lib
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.data.mmkg import EATask, ELTask, LPTask
from mtaimkg_jax.errors import ConfigError


class ParsedQuery(NamedTuple):
  """A user's query on a graph: the query node and relation; `new_text` is
  the text of a mention the graph does not hold (EL), placed as a new
  node."""
  node: int
  relation: int
  new_text: str | None = None


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


def _nonempty(text: str) -> str:
  if not text or not text.strip():
    raise ConfigError('query', 'the query is empty')
  return text.strip()


@dataclasses.dataclass(frozen=True)
class TaskKind:
  """What one task kind does differently; see the module docstring. The
  defaults are those of the matching kinds (EA, EL), whose query and
  answer are one thing named twice."""
  name: str
  container: type
  # (data root, dataset name, config) → the task container.
  load: Callable[[str, str, ml_collections.ConfigDict], object]
  # task container → its QueryGraph, features not yet unified.
  build: Callable[..., QueryGraph]
  # (graph, text) → ParsedQuery; `check_query(text)` validates the form
  # before any graph loads.
  parse_query: Callable[[QueryGraph, str], ParsedQuery]
  query_help: str
  check_query: Callable[[str], None] = _nonempty
  # Each query has one counterpart: ranking also matches one-to-one.
  one_to_one: bool = False
  # 'adversarial' (ULTRA's self-adversarial BCE) or 'contrastive'
  # (config.train.contrastive_loss among in-batch and hard negatives).
  loss: str = 'contrastive'
  # 'strict' (uniform, known answers resampled) or 'contrastive' (the
  # batch's other answers, then hard negatives by features).
  negatives: str = 'contrastive'
  # The query and its answer are the same thing named twice: the logit
  # starts from the cosine of their names (a prior), and the scale of the
  # learned terms over it can be calibrated on held-out queries.
  names_prior: bool = True
  # Every query conditions on the same relation (one relation-GNN run).
  shares_condition: bool = True
  # The parameter-free floor ranked on the same queries (eval/baselines.py).
  baseline: str = 'feature_cosine'
  # Its queries are facts of the graph they are asked on, so the graph's
  # own facts can say how much of the modality terms to use
  # (eval/fact_gate.py, with model.fact_gate).
  fact_gated: bool = False

  @property
  def id(self) -> int:
    return types.TASK_IDS[self.name]


def _lp_parts(text: str) -> list[str]:
  parts = [p.strip() for p in _nonempty(text).split('|')]
  if len(parts) != 3 or (parts[0] == '?') == (parts[2] == '?') or not all(
      parts):
    raise ConfigError('query', "LP queries look like 'head|relation|?' or "
                      f"'?|relation|tail', got {text!r}")
  return parts


def _parse_lp(graph: QueryGraph, text: str) -> ParsedQuery:
  head, relation_text, tail = _lp_parts(text)
  relation = _lookup('relation', relation_text,
                     [str(i) for i in range(graph.num_relations)],
                     graph.relation_names)
  if tail == '?':
    return ParsedQuery(_lookup('entity', head, graph.node_tokens,
                               graph.node_names), relation)
  inverse = int(graph_lib.inverse_relation(np.asarray(relation),
                                           graph.num_base_relations))
  return ParsedQuery(_lookup('entity', tail, graph.node_tokens,
                             graph.node_names), inverse)


def _parse_ea(graph: QueryGraph, text: str) -> ParsedQuery:
  node = _lookup('graph-1 entity', _nonempty(text), graph.node_tokens,
                 graph.node_names, ~graph.negative_pool)
  return ParsedQuery(node, graph.num_base_relations - 1)


def _parse_el(graph: QueryGraph, text: str) -> ParsedQuery:
  text = _nonempty(text)
  relation = graph.num_base_relations - 1
  for i in np.flatnonzero(graph.node_kind == types.MENTION):
    if text in (graph.node_names[i], graph.surface_forms[i]):
      return ParsedQuery(int(i), relation)
  return ParsedQuery(graph.num_nodes, relation, text)


def _load_lp(root: str, name: str, config: ml_collections.ConfigDict):
  del config
  return datasets.load_lp_task(root, name)


def _load_ea(root: str, name: str, config: ml_collections.ConfigDict):
  return datasets.load_ea_task(
      root, name, train_ratio=config.ea.train_ratio, seed=config.seed,
      candidates=config.ea.candidates,
      valid_fraction=config.ea.valid_fraction)


def _load_el(root: str, name: str, config: ml_collections.ConfigDict):
  return datasets.load_el_task(root, name,
                               valid_fraction=config.el.valid_fraction,
                               seed=config.seed)


LP = TaskKind(
    'lp', LPTask, _load_lp, graph_lib.build_lp, _parse_lp,
    "'head|relation|?' or '?|relation|tail' (ids or names)",
    check_query=_lp_parts, loss='adversarial', negatives='strict',
    names_prior=False, shares_condition=False, baseline='relation_frequency',
    fact_gated=True)
EA = TaskKind('ea', EATask, _load_ea, graph_lib.build_ea, _parse_ea,
              'an entity of graph 1 (id or name)', one_to_one=True)
EL = TaskKind('el', ELTask, _load_el, graph_lib.build_el, _parse_el,
              'a mention sentence (a new one becomes a node of its own)')

# In the order of `types.TASKS` (the task ids).
KINDS = {kind.name: kind for kind in (LP, EA, EL)}


def kind_of(task: object) -> TaskKind:
  """The kind of a task container (`LPTask`, `EATask`, `ELTask`)."""
  for kind in KINDS.values():
    if isinstance(task, kind.container):
      return kind
  raise TypeError(f'not a task: {type(task).__name__}')
