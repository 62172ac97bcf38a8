"""Python API: a trained model that answers queries by name.

  from mtaimkg_jax import api
  p = api.Predictor.from_workdir('workdir/default')
  p.relations('lp/synthetic')[:3]
  p.predict('e3|rel_2|?', task='lp/synthetic', top_k=5)
  # → [{'rank': 1, 'name': ..., 'id': ..., 'score': ..., 'known': False},...]

A `Predictor` loads each graph once, restores the parameters once (on the
first query, after the query is validated) and compiles one scoring
function per graph, so later queries cost one forward pass. Queries take
the task kind's form (`data/tasks.py`): LP `head|relation|?` or
`?|relation|tail`, EA an entity of graph 1, EL a mention sentence (a new
mention is featurized as the graph's mentions were, `featurize.new_node`,
and placed on a padding node).
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping

import jax
import ml_collections
import numpy as np

from mtaimkg_jax import checkpoint, config_check, parallel, types
from mtaimkg_jax.data import featurize, loading
from mtaimkg_jax.data.batches import pad_queries
from mtaimkg_jax.data.graph import QuerySet
from mtaimkg_jax.data.tasks import ParsedQuery
from mtaimkg_jax.errors import ConfigError, raise_together
from mtaimkg_jax.eval import fact_gate
from mtaimkg_jax.experiment import Experiment, Init, Prepared, resolve_init


class Predictor:
  """See the module docstring; build it with `from_workdir` or
  `from_config`."""

  def __init__(self, experiment: Experiment, init: Init):
    """`init`: where its parameters come from (`resolve_init`), read on
    the first query."""
    self.experiment = experiment
    self.init = init
    self._encode_text = None
    model = experiment.model
    # The graph's query-independent part (unit features, prototypes, edge
    # gates) is computed once per dataset, as ranking does, not per query.
    centre = experiment.config.model.num_references > 0
    self._graph_side = jax.jit(lambda p, g: model.apply(
        {'params': p}, g, centre=centre, method='graph_side'))
    # The parameters with each backbone merge, restored on the first
    # query; per dataset, the parameters, graph side and gate it is
    # ranked with.
    self._backbones = None
    self._ranked = {}
    self._score = jax.jit(lambda p, g, q, side: model.apply(
        {'params': p}, g, q, side=side, method='rank'))

  @classmethod
  def from_workdir(cls, workdir: str,
                   overrides: Mapping[str, Any] | None = None) -> Predictor:
    """The model trained in `workdir`, with the config it saved there;
    `overrides` ({'eval.tasks': ..., 'data.root': ...}) change keys of
    it, e.g. to ask a dataset it was not trained on. A key the config does
    not have, or a value it cannot take, is a `ConfigError` naming it."""
    config = checkpoint.read_config(workdir)
    if config is None:
      raise ConfigError('workdir', f'{workdir!r} holds no '
                        f'{checkpoint.CONFIG_FILE} of a training run')
    config = _overridden(config, overrides or {})
    return cls(Experiment(config), resolve_init(config, workdir))

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, workdir: str,
                  overridden: Iterable[str] = ()) -> Predictor:
    """A command line's config: the model of the checkpoint it names
    (`experiment.resolve_init`), except the keys it `overridden`."""
    init = resolve_init(config, workdir, overridden)
    return cls(Experiment(init.config), init)

  def datasets(self) -> list[str]:
    """The datasets this predictor answers on (`config.eval.tasks`, else
    `config.tasks`)."""
    return [spec.dataset for spec in self.experiment.eval_specs]

  def _spec(self, task: str | None) -> loading.TaskSpec:
    """The dataset `task` names (a dataset or a task kind), else the
    first."""
    specs = self.experiment.eval_specs
    if task is not None:
      specs = [s for s in specs if task in (s.dataset, s.task)]
      if not specs:
        raise ConfigError('task', f'{task!r} is none of the datasets '
                          f'{self.datasets()} nor their task kinds')
    return specs[0]

  def _prepared(self, task: str | None) -> Prepared:
    return self.experiment.prepare(self._spec(task))

  def entities(self, task: str | None = None) -> list[str]:
    """The entity names queries and answers use."""
    graph = self._prepared(task).graph
    return [graph.node_names[i]
            for i in np.flatnonzero(graph.node_kind == types.ENTITY)]

  def relations(self, task: str | None = None) -> list[str]:
    """The relation names LP queries may ask (inverses included)."""
    return list(self._prepared(task).graph.relation_names)

  def parse(self, query: str, task: str | None = None) -> ParsedQuery:
    """The query on its graph, or a `ConfigError` naming what is wrong;
    nothing is restored or compiled."""
    _check_query(query)
    self._spec(task).kind.check_query(query)
    prepared = self._prepared(task)
    return prepared.kind.parse_query(prepared.graph, query)

  def _side(self, params: Any, arrays: Any, gate: dict | None) -> Any:
    return fact_gate.gated_side(self._graph_side(params, arrays),
                                self.experiment.terms, gate,
                                self.experiment.mesh)

  def _ranked_with(self, prepared: Prepared) -> tuple[Any, Any, dict | None]:
    """The parameters, graph side and fact gate `prepared`'s graph is
    ranked with, as evaluation ranks it (`fact_gate.ranked_with`: on an
    LP graph, the backbone merge and term scales its own facts choose);
    read on the graph's first query."""
    key = prepared.spec.dataset
    if key not in self._ranked:
      if self._backbones is None:
        self._backbones = self.experiment.backbones(
            self.experiment.params_of(self.init))
      merge, gate = fact_gate.ranked_with(
          self.experiment.model, self._backbones, prepared,
          self.experiment.config, self.experiment.mesh)
      params = self._backbones[merge]
      self._ranked[key] = (params, self._side(params, prepared.arrays, gate),
                           gate)
    return self._ranked[key]

  def _forward(self, query: str, task: str | None
               ) -> tuple[Prepared, ParsedQuery, Any]:
    _check_query(query)
    prepared = self._prepared(task)
    graph = prepared.graph
    parsed = prepared.kind.parse_query(graph, query)
    params, side, gate = self._ranked_with(prepared)
    arrays = prepared.arrays
    if parsed.new_text is not None:
      # A new mention's features change the graph's unit features.
      arrays = self._with_new_mention(prepared, parsed.new_text)
      side = self._side(params, arrays, gate)
    batch_size = self.experiment.config.eval.batch_size
    queries = pad_queries(
        QuerySet(np.array([parsed.node]), np.array([parsed.relation]),
                 np.array([0])), graph.task, batch_size)
    output = self._score(params, arrays,
                         parallel.replicate(queries, self.experiment.mesh),
                         side)
    return prepared, parsed, output

  def routing(self, query: str, task: str | None = None) -> dict[str, float]:
    """The query's routing weights over the model's representations."""
    _, _, output = self._forward(query, task)
    return dict(zip(self.experiment.terms.names,
                    map(float, np.asarray(output.routing)[0])))

  def predict(self, query: str, task: str | None = None,
              top_k: int = 10) -> list[dict[str, Any]]:
    """The `top_k` best candidates of `query`: rank, name, id, score, and
    whether the pair is already a known true fact of the graph."""
    if (not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool)
        or top_k < 1):
      raise ConfigError('top_k', f'must be an integer ≥ 1, got {top_k!r}')
    prepared, parsed, output = self._forward(query, task)
    graph = prepared.graph
    scores = np.asarray(output.logits)[0, :graph.num_nodes]
    scores = np.where(graph.candidates, scores, -np.inf)
    top = np.argsort(-scores, kind='stable')[:top_k]
    _, known = graph.known.lookup(np.array([parsed.node]),
                                  np.array([parsed.relation]))
    return [{'rank': i + 1, 'name': graph.node_names[c],
             'id': graph.node_tokens[c], 'score': float(scores[c]),
             'known': bool(np.isin(c, known))}
            for i, c in enumerate(top) if np.isfinite(scores[c])]

  def _with_new_mention(self, prepared: Prepared, text: str) -> Any:
    """`prepared`'s arrays with a new mention's unified features on the
    first padding node (the only rows that change)."""
    graph, config = prepared.graph, self.experiment.config
    if self._encode_text is None:
      self._encode_text = featurize.text_encoding(config)
    rows = featurize.new_node(graph, text, self._encode_text,
                              featurize.cache_directory(config))
    nodes = dict(prepared.arrays.entity.nodes)
    for modality, row in rows.items():
      values = np.array(nodes[modality])
      present = np.array(nodes[f'{modality}_present'])
      values[graph.num_nodes], present[graph.num_nodes] = row, True
      nodes.update(parallel.replicate(
          {modality: values, f'{modality}_present': present},
          self.experiment.mesh))
    entity = prepared.arrays.entity._replace(nodes=nodes)
    return prepared.arrays._replace(entity=entity)


def _check_query(query: Any) -> None:
  if not isinstance(query, str):
    raise ConfigError('query', f'must be a string, got '
                      f'{type(query).__name__} {query!r:.60}')


def _overridden(config: ml_collections.ConfigDict,
                overrides: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """`config` with `overrides` ({'section.key': value}) set; unknown keys
  (all of them named) or values of another type are a `ConfigError`.
  `data.synthetic.<option>` may be new: `loading.synthetic_spec` checks
  it."""
  known = [key for key, _ in config_check.flat_items(config)]
  sections = {key.rsplit('.', i)[0] for key in known
              for i in range(key.count('.') + 1)}
  raise_together([
      ConfigError(key, 'no such config key' + (
          f'; did you mean {close}?' if (close := difflib.get_close_matches(
              str(key), known, n=3)) else ''))
      for key in overrides if key not in sections and
      not str(key).startswith('data.synthetic.')])
  for key, value in overrides.items():
    try:
      config.update_from_flattened_dict({key: value})
    except (TypeError, ValueError, KeyError) as e:
      raise ConfigError(key, f'cannot take {value!r}: {e}') from None
  return config


def table(query: str, answers: list[dict[str, Any]]) -> str:
  """A readable table of `Predictor.predict`'s answers; known true facts
  are starred."""
  width = max([len(a['name']) for a in answers] + [6])
  lines = [f'{query}', f'{"rank":>4}  {"score":>9}  {"answer":<{width}}  id']
  for a in answers:
    star = ' *' if a['known'] else ''
    lines.append(f'{a["rank"]:>4}  {a["score"]:>9.4f}  '
                 f'{a["name"]:<{width}}  {a["id"]}{star}')
  if any(a['known'] for a in answers):
    lines.append('* already a known fact of the graph')
  return '\n'.join(lines)
