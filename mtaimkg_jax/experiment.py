"""One run's config, mesh, model, graphs and parameters.

An `Experiment` is shared by training, evaluation and prediction. It
validates the config once, builds each dataset's graph once (text
encoding, views, relation graph) and pads it once per candidate set,
builds the model, and owns where parameters come from: a fresh init with
ULTRA's weights imported, this workdir's checkpoint, or another run's
(`config.init_workdir`).

A checkpoint knows its config: training writes `<workdir>/config.json`
(`checkpoint.write_config`); `resolve_init` decides, in one ordered
place, where a run's weights and model come from; `check_resumable`
refuses to train a workdir whose run differs, before anything is
written.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Iterable

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mtaimkg_jax import checkpoint, config_check, parallel, records, steps
from mtaimkg_jax.data import loading, padding
from mtaimkg_jax.data.batches import pad_queries
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.data.tasks import KINDS, TaskKind
from mtaimkg_jax.errors import ConfigError, MtaimkgError, raise_together
from mtaimkg_jax.models import ultra_import
from mtaimkg_jax.models.model import MtaIMKG, StructureOnly
from mtaimkg_jax.types import MODALITIES, TASKS


@dataclasses.dataclass
class Prepared:
  """One graph ready for the device: its budget and padded arrays, which
  are replicated on the mesh."""
  spec: loading.TaskSpec
  graph: QueryGraph
  budget: padding.Budget
  arrays: Any

  @property
  def kind(self) -> TaskKind:
    return self.spec.kind


def build_model(config: ml_collections.ConfigDict) -> nn.Module:
  """`config.model` → a module with the `ModelOutput` interface."""
  model = config.model
  if model.name == 'ultra':
    return StructureOnly(model.dim, model.num_layers, model.remat)
  return MtaIMKG(
      dim=model.dim, num_layers=model.num_layers, task_dim=model.task_dim,
      expert_hidden=model.expert_hidden, num_experts=model.num_experts,
      top_k=model.top_k, uniform_routing=not model.routing,
      remat=model.remat, chunk_size=model.chunk_size,
      names_prior=model.names_prior, gate_hidden=model.gate_hidden,
      graph_evidence=model.graph_evidence,
      modalities=MODALITIES + tuple(config.features.views),
      names_prior_tasks=tuple(KINDS[t].id for t in TASKS
                              if KINDS[t].names_prior),
      without=tuple(model.without))


def budgets(config: ml_collections.ConfigDict) -> list[padding.Budget]:
  """`config.padding.budgets` (checked by `config_check`) as budgets."""
  return [padding.Budget(**dict(entry)) for entry in config.padding.budgets]


def eval_specs(config: ml_collections.ConfigDict) -> list[loading.TaskSpec]:
  """The datasets evaluated: `config.eval.tasks`, else `config.tasks`."""
  if config.eval.tasks:
    return loading.parse_tasks(config.eval.tasks, key='eval.tasks')
  return loading.parse_tasks(config.tasks)


def merged_backbone(trained: Any, initial: Any, weight: float) -> Any:
  """`initial` + `weight` x (`trained` - `initial`), leaf by leaf: 0 is
  the backbone training started from, 1 the trained one."""
  chex.assert_trees_all_equal_shapes(trained, initial)
  return jax.tree_util.tree_map(
      lambda t, i: (i + weight * (t - i)).astype(np.asarray(t).dtype),
      trained, initial)


@dataclasses.dataclass(frozen=True)
class Init:
  """Where a run's weights come from, and the config it runs with
  (`resolve_init`). `kind`: 'workdir' (this workdir's own checkpoint:
  resume it, or rank it), 'init_workdir' (another run's checkpoint),
  'init_checkpoint' (a backbone file) or 'scratch'."""
  kind: str
  path: str | None
  config: ml_collections.ConfigDict


def resolve_init(config: ml_collections.ConfigDict, workdir: str | None,
                 overridden: Iterable[str] = (),
                 training: bool = False) -> Init:
  """The one place that decides where a run's weights and model come
  from, in this order:

  1. `workdir` holds a saved step: training resumes it; evaluation and
     prediction rank it.
  2. `config.init_workdir`: another run's checkpoint, which must hold a
     step (training starts from its parameters). A checkpoint named on
     the command line wins over a config's default one: naming
     `model.init_checkpoint` and not `init_workdir` skips this (ULTRA rows
     of configs/transfer.py, whose default is the shipped checkpoint).
  3. `config.model.init_checkpoint`: a backbone file (ULTRA `.pth` or
     Orbax params), the rest freshly initialised.
  4. Scratch: training only; ranking nothing is a `ConfigError`.

  Ranking a run's checkpoint (1 or 2) takes the model from its saved
  `config.json`, but for the keys the command line `overridden`;
  training keeps its own config (`check_resumable` refuses another).
  Raised before any graph loads."""
  named = set(overridden)
  if workdir and checkpoint.has_saved_step(workdir):
    init = Init('workdir', workdir, config)
  elif config.init_workdir and not ('model.init_checkpoint' in named and
                                    'init_workdir' not in named):
    if not checkpoint.has_saved_step(config.init_workdir):
      raise _no_readable_checkpoint('init_workdir', config.init_workdir)
    init = Init('init_workdir', config.init_workdir, config)
  elif config.model.init_checkpoint:
    return Init('init_checkpoint', config.model.init_checkpoint,
                _without_init_workdir(config))
  elif training:
    return Init('scratch', None, config)
  else:
    raise ConfigError('init_workdir', f'no checkpoint in {workdir!r}, and '
                      'neither config.init_workdir nor '
                      'config.model.init_checkpoint is set')
  if training:
    return init
  saved = checkpoint.read_config(init.path)
  if saved is None:
    return init
  resolved = config_check.with_saved_model(config, saved, named)
  changed = config_check.differences(resolved, config,
                                     config_check.SAVED_KEYS)
  if changed:
    logging.info('the model of %s, from its config.json: %s', init.path,
                 '; '.join(changed))
  return dataclasses.replace(init, config=resolved)


def _without_init_workdir(config: ml_collections.ConfigDict
                          ) -> ml_collections.ConfigDict:
  if not config.init_workdir:
    return config
  config = config.copy_and_resolve_references()
  config.init_workdir = ''
  return config


def check_resumable(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Raises `ConfigError` naming every key on which `config` differs from
  the run already in `workdir` (its model, data or seed), before anything
  is written: such a run cannot resume that run's checkpoints. Keys that
  training ignores (role 'ranking') may differ: the run ranks with them."""
  saved = checkpoint.read_config(workdir)
  if saved is None:
    return
  changed = config_check.differences(
      saved, config, config_check.RESUME_KEYS)
  if changed:
    raise ConfigError('workdir', f'{workdir} holds a run of another config '
                      f'({"; ".join(changed)}); use another --workdir, or '
                      'the run\'s own config to resume it')


def _no_readable_checkpoint(key: str, directory: str) -> ConfigError:
  return ConfigError(key, f'{directory!r} holds no readable checkpoint in '
                     f'{checkpoint.directory_of(directory)} (has its training '
                     'run finished? are its files whole?)')


class Experiment:
  """See the module docstring."""

  def __init__(self, config: ml_collections.ConfigDict,
               mesh: jax.sharding.Mesh | None = None,
               baseline: bool = False):
    """`mesh`: the devices to run on (default: all, `parallel.make_mesh`);
    `baseline`: the run ranks parameter-free floors (`--mode=baseline`),
    so no parameter is ever read."""
    self.config = config
    self.baseline = baseline
    self.mesh = mesh if mesh is not None else parallel.make_mesh()
    config_check.validate(config, self.mesh.shape[parallel.DATA_AXIS])
    self.model = build_model(config)
    self.terms = self.model.terms
    self._budgets = budgets(config)
    self._graphs: dict[str, QueryGraph] = {}
    self._prepared: dict[tuple[str, str | None], Prepared] = {}
    # Where the parameters evaluation ranks with came from (`provenance`):
    # the initial weights until `checkpoint_params` restores a run's.
    self.source = self._initial_source()

  def _initial_source(self) -> dict[str, Any]:
    config = self.config
    if self.baseline:
      return {'kind': 'none'}
    path = config.model.init_checkpoint
    if path and os.path.isfile(path):
      return {'kind': 'init_checkpoint', 'path': path,
              'fingerprint': records.file_fingerprint(path)}
    if path:
      return {'kind': 'init_checkpoint', 'path': path}
    return {'kind': 'scratch', 'seed': config.seed}

  def provenance(self, params: Any, step: int | None) -> dict[str, Any]:
    """{'params': {'fingerprint', 'step'}, 'source': ...} of what ranks:
    the records' account of which weights a result is of."""
    fingerprint = (records.params_fingerprint(params)
                   if params is not None else None)
    if step is None:
      step = self.source.get('step')
    return {'params': {'fingerprint': fingerprint, 'step': step},
            'source': self.source}

  @property
  def train_specs(self) -> list[loading.TaskSpec]:
    return loading.parse_tasks(self.config.tasks)

  @property
  def eval_specs(self) -> list[loading.TaskSpec]:
    return eval_specs(self.config)

  def graph(self, spec: loading.TaskSpec) -> QueryGraph:
    """`spec`'s query graph, built on first use."""
    if spec.dataset not in self._graphs:
      self._graphs[spec.dataset] = loading.load_graph(self.config, spec)
    return self._graphs[spec.dataset]

  def load_all(self, specs: Iterable[loading.TaskSpec]) -> None:
    """Builds the graph of every one of `specs`, then raises the problems
    of all of them together (`errors.InputErrors`), so one run reports
    every bad dataset, not the first."""
    problems = []
    for spec in specs:
      try:
        self.graph(spec)
      except MtaimkgError as e:
        problems.append(e)
    raise_together(problems)

  def data_report(self) -> dict[str, dict[str, int]]:
    """{dataset: {check: count}} of every graph built so far
    (data/hygiene.py): what `data_report.json` holds."""
    return {key: graph.hygiene for key, graph in self._graphs.items()}

  def write_data_report(self, workdir: str) -> None:
    if jax.process_index() == 0:
      checkpoint.write_json(os.path.join(workdir, 'data_report.json'),
                            self.data_report())

  def prepare(self, spec: loading.TaskSpec,
              split: str | None = None) -> Prepared:
    """`spec`'s graph padded and on the mesh, with the candidates `split`
    is ranked among (`QueryGraph.for_split`); padded once each."""
    graph = self.graph(spec)
    key = (spec.dataset, split if split in graph.split_candidates else None)
    if key not in self._prepared:
      self._prepared[key] = self.prepare_graph(
          spec, graph.for_split(split) if split else graph)
    return self._prepared[key]

  def prepare_graph(self, spec: loading.TaskSpec,
                    graph: QueryGraph) -> Prepared:
    """A variant of `spec`'s graph (e.g. with pseudo-seeds,
    eval/self_training.py) padded and on the mesh; not cached."""
    budget = padding.choose_budget(graph, self._budgets)
    arrays = padding.graph_arrays(graph, budget, self.config.features.k,
                                  self.config.model.num_references)
    return Prepared(spec, graph, budget, parallel.replicate(arrays, self.mesh))

  def optimizer(self, params: Any):
    return steps.make_optimizer(self.config, params)

  def init_params(self, prepared: Prepared, imported: bool = True) -> Any:
    """Fresh host parameters (shapes from `prepared`'s graph), the backbone
    replaced by `config.model.init_checkpoint`'s when set and `imported`
    (not when a checkpoint's parameters will replace them all)."""
    config = self.config
    graph = prepared.graph
    queries = graph.queries[next(iter(graph.queries))]
    batch = pad_queries(queries.take(np.arange(1)), graph.task,
                        config.train.batch_size)
    candidates = np.zeros((config.train.batch_size, 2), np.int32)
    arrays = jax.tree_util.tree_map(np.asarray, prepared.arrays)
    variables = jax.jit(self.model.init)(
        jax.random.PRNGKey(config.seed), arrays, batch, candidates)
    params = jax.device_get(variables['params'])
    if config.model.init_checkpoint and imported:
      params = dict(params)
      params['backbone'] = self._backbone_params(params['backbone'])
    return params

  def _backbone_params(self, initial: Any) -> Any:
    config = self.config
    path = config.model.init_checkpoint
    if not os.path.exists(path):
      raise ConfigError('model.init_checkpoint', f'{path!r} does not exist')
    if path.endswith('.pth'):
      loaded = ultra_import.load_ultra(path, config.model.num_layers,
                                       config.model.dim)
    else:
      loaded = checkpoint.load_params(path)
    got = jax.tree_util.tree_map(np.shape, loaded)
    want = jax.tree_util.tree_map(np.shape, initial)
    if got != want:
      raise ConfigError('model.init_checkpoint', f'{path!r} does not fit a '
                        f'{config.model.num_layers}-layer, '
                        f'{config.model.dim}-dim backbone')
    logging.info('backbone initialised from %s', path)
    return loaded

  @property
  def merge_weights(self) -> tuple[float, ...]:
    """The weights of `model.backbone_merges` this run can rank with: all
    of them where the fact gate chooses among them (it is on and some
    evaluated dataset's kind is fact-gated), else the first."""
    weights = tuple(self.config.model.backbone_merges)
    gated = self.config.model.fact_gate and any(
        spec.kind.fact_gated for spec in self.eval_specs)
    return weights if gated and not self.baseline else weights[:1]

  def backbones(self, params: Any) -> dict[float, Any]:
    """{w: `params` with the backbone at init + w x (trained - init)} for
    each of `merge_weights`, in order, replicated on the mesh; init is
    `model.init_checkpoint`'s backbone (read only when some w < 1)."""
    weights = self.merge_weights
    if all(w == 1 for w in weights):
      return {w: params for w in weights}
    host = jax.tree_util.tree_map(checkpoint.host_array, params)
    initial = self._backbone_params(host['backbone'])
    return {w: params if w == 1 else parallel.replicate(
        {**host, 'backbone': merged_backbone(host['backbone'], initial, w)},
        self.mesh) for w in weights}

  def state(self, params: Any,
            trained_with: ml_collections.ConfigDict | None = None
            ) -> steps.TrainState:
    """A step-0 train state of `params`, replicated on the mesh; its
    optimizer state has the structure `trained_with`'s optimizer gives
    (default: this config's), as a checkpoint of that run holds."""
    optimizer = steps.make_optimizer(trained_with or self.config, params)
    state = steps.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                             opt_state=optimizer.init(params))
    return parallel.replicate(state, self.mesh)

  def restore(self, ckpts: checkpoint.Checkpoints, abstract: Any,
              key: str, source: str, set_aside: bool = False
              ) -> tuple[Any, dict] | None:
    """The newest readable (state, record) of `ckpts` (the checkpoints of
    workdir `source`, named by config `key`), or None if it has no step.
    Parameter shapes that differ from `abstract`'s, or saved steps none
    of which reads, are a `ConfigError`: never a silent start from
    scratch over them. `set_aside`: see `Checkpoints.restore`."""
    saved = ckpts.all_steps()
    if not saved:
      return None
    found = ckpts.param_shapes(saved[-1])
    want = checkpoint.shapes_of(abstract.params)
    if found is not None and found != want:
      differing = sorted(k for k in set(found) | set(want)
                         if found.get(k) != want.get(k))
      raise ConfigError(key, f'the checkpoint in {ckpts.directory} has other '
                        f'parameter shapes than this config\'s model '
                        f'({", ".join(differing[:8])}'
                        f'{", ..." if len(differing) > 8 else ""}): it was '
                        'trained with another config')
    restored = ckpts.restore(abstract, set_aside)
    if restored is None:
      raise _no_readable_checkpoint(key, source)
    return restored

  def params_of(self, init: Init) -> Any:
    """The parameters `init` says a run ranks (or starts training) with,
    replicated on the mesh: a checkpoint's, or fresh ones with the
    backbone of `init_checkpoint`; `self.source` then says which."""
    first = self.prepare(self.eval_specs[0])
    # A checkpoint's parameters replace every initial one: no import then
    # (a shipped checkpoint needs no ULTRA file beside it).
    checkpointed = init.kind in ('workdir', 'init_workdir')
    params = self.init_params(first, imported=not checkpointed)
    if not checkpointed:
      return parallel.replicate(params, self.mesh)
    ckpts = checkpoint.Checkpoints(init.path, 1, 1000, key=init.kind)
    try:
      restored = self.restore(ckpts, self.state(
          params, checkpoint.read_config(init.path)), init.kind, init.path)
    finally:
      ckpts.close()
    if restored is None:
      raise _no_readable_checkpoint(init.kind, init.path)
    step = int(restored[0].step)
    logging.info('parameters of %s at step %d', init.path, step)
    self.source = {'kind': init.kind, 'path': init.path,
                   'run': records.run_id(init.path), 'step': step,
                   'fingerprint': records.params_fingerprint(
                       restored[0].params)}
    if 'fell_back_from' in restored[1]:
      self.source['fell_back_from'] = restored[1]['fell_back_from']
    return restored[0].params
