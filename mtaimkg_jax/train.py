"""`train_and_evaluate(config, workdir)`: the whole job, files → results.

Also `evaluate` (a trained or imported checkpoint on any dataset) and
`predict` (top answers with names). Writes into the workdir:
`results.json`, `routing.json`, `routing_by_dataset.json`, `routing.png`,
`checkpoints/<step>/`, TensorBoard events under `tensorboard/`, the
ranks of each evaluated split under `eval/` (resumption of evaluation)
and, with `eval.calibrate_learned_scale`, `calibration.json` (the EA/EL
learned-term scale chosen on the held-out queries; see calibration.py).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from mtaimkg_jax import (baselines, calibration, checkpoint, config_check,
                         evaluation, metrics, parallel, plots, steps, summary)
from mtaimkg_jax.data import loading, padding
from mtaimkg_jax.data.batches import (TrainBatch, TrainSampler, eval_batches,
                                      pad_queries)
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.errors import ConfigError, TrainingError
from mtaimkg_jax.models import ultra_import
from mtaimkg_jax.models.model import build_model, routed_of

RESULT_KEYS = ('mrr', 'hits@1', 'hits@3', 'hits@5', 'hits@10', 'mr', 'count')


@dataclasses.dataclass
class Prepared:
  """One graph ready for the device: budget, padded arrays on the mesh."""
  spec: loading.TaskSpec
  graph: QueryGraph
  budget: padding.Budget
  arrays: Any


def _budgets(config: ml_collections.ConfigDict) -> list[padding.Budget]:
  out = []
  for i, entry in enumerate(config.padding.budgets):
    try:
      out.append(padding.Budget(**dict(entry)))
    except (TypeError, ValueError) as e:
      raise ConfigError(f'padding.budgets[{i}]', f'{e}; expected keys nodes, '
                        'edges, relations, relation_edges') from None
  return out


def _check_config(config: ml_collections.ConfigDict, mesh) -> None:
  config_check.validate(config, mesh.shape[parallel.DATA_AXIS])


def _prepare(config, graphs, mesh) -> list[Prepared]:
  budgets = _budgets(config)
  out = []
  for spec, graph in graphs:
    budget = padding.choose_budget(graph, budgets)
    arrays = padding.graph_arrays(graph, budget, config.features.k)
    out.append(Prepared(spec, graph, budget,
                        parallel.replicate(arrays, mesh)))
  return out


def eval_specs(config) -> list[loading.TaskSpec]:
  """The datasets evaluated: `config.eval.tasks`, else `config.tasks`."""
  if config.eval.tasks:
    return loading.parse_tasks(config.eval.tasks, key='eval.tasks')
  return loading.parse_tasks(config.tasks)


def _sampler(config, prepared: Prepared) -> TrainSampler:
  contrastive = prepared.graph.task != 'lp'
  return TrainSampler(
      graph=prepared.graph, budget=prepared.budget,
      batch_size=config.train.batch_size,
      num_negatives=config.train.num_negatives, seed=config.seed,
      negatives='contrastive' if contrastive else 'strict',
      num_hard=config.train.num_hard_negatives if contrastive else 0)


def task_schedule(weights: list[float], seed: int,
                  num_steps: int) -> np.ndarray:
  """The task index each step trains on: drawn by weight, fixed by the seed.

  A pure function of its arguments, so a benchmark can count how many
  updates each task of a mixture gets without building the mixture.
  """
  probabilities = np.asarray(weights, np.float64) / sum(weights)
  return np.random.default_rng([seed, 7]).choice(
      len(weights), size=max(num_steps, 1), p=probabilities)


class Mixture:
  """Which task each step trains on (`task_schedule`), and which batch of
  that task: step s always sees the same batch (exact resumption)."""

  def __init__(self, samplers: list[TrainSampler], weights: list[float],
               seed: int, num_steps: int):
    self.samplers = samplers
    self.choice = task_schedule(weights, seed, num_steps)
    self.draw = np.zeros_like(self.choice)
    for task in range(len(samplers)):
      mine = self.choice == task
      self.draw[mine] = np.arange(mine.sum())

  def batch(self, step: int) -> tuple[int, TrainBatch]:
    task = int(self.choice[step])
    return task, self.samplers[task].batch(int(self.draw[step]))


def _device_batch(batch, mesh, batch_size: int, replicated_fields=()):
  """Host batch → global arrays: this process's rows, sharded on `data`."""
  rows = parallel.process_slice(batch_size)
  fields = {}
  for name, value in batch._asdict().items():
    if name in replicated_fields:
      fields[name] = parallel.replicate(value, mesh)
    else:
      local = jax.tree_util.tree_map(lambda x: np.asarray(x)[rows], value)
      fields[name] = parallel.global_batch(local, mesh, batch_size)
  return type(batch)(**fields)


def _init_params(model, config, prepared: Prepared) -> Any:
  batch = pad_queries(prepared.graph.queries[next(iter(
      prepared.graph.queries))].take(np.arange(1)), prepared.graph.task,
                      config.train.batch_size)
  candidates = np.zeros((config.train.batch_size, 2), np.int32)
  arrays = jax.tree_util.tree_map(np.asarray, prepared.arrays)
  variables = jax.jit(model.init)(
      jax.random.PRNGKey(config.seed), arrays, batch, candidates)
  params = jax.device_get(variables['params'])
  if config.model.init_checkpoint:
    params = dict(params)
    params['backbone'] = _backbone_params(config, params['backbone'])
  return params


def _backbone_params(config, initial: Any) -> Any:
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


def _record(config, step: int) -> dict:
  return {'step': step, 'seed': config.seed, 'data_position': step,
          'tasks': [list(map(str, t)) for t in config.tasks]}


class _Preemption:
  """SIGTERM → finish the step, save, exit (as a TPU pod preemption)."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not the main thread
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    logging.warning('SIGTERM: saving a checkpoint after this step')
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict[str, dict[str, float]]:
  """Trains on `config.tasks`, then evaluates and writes the results."""
  if not workdir:
    raise ConfigError('workdir', 'a --workdir is required')
  mesh = parallel.make_mesh()
  _check_config(config, mesh)
  os.makedirs(workdir, exist_ok=True)
  if config.model.name == 'baseline':
    return _evaluate_baselines(config, workdir)
  graphs = loading.load_graphs(config)
  evaluated = {spec.dataset for spec in eval_specs(config)}
  for spec, graph in graphs:
    if spec.dataset in evaluated:
      _calibrates(config, graph)  # held-out set errors before, not after
  prepared = _prepare(config, graphs, mesh)
  model = build_model(config)
  params = _init_params(model, config, prepared[0])
  optimizer = steps.make_optimizer(config, params)
  state = steps.TrainState(step=jnp.zeros((), jnp.int32),
                           params=params, opt_state=optimizer.init(params))
  state = parallel.replicate(state, mesh)
  fns = steps.make_steps(model, optimizer, config, mesh)
  ckpts = checkpoint.Checkpoints(workdir, config.train.checkpoint_every,
                                 config.train.keep_checkpoints)
  restored = ckpts.restore(state)
  if restored is not None:
    state, record = restored
    if record.get('seed') != config.seed:
      raise ConfigError('seed', f'workdir {workdir} holds a run with seed '
                        f'{record.get("seed")}; use another workdir')
    logging.info('resumed from step %d', int(state.step))
  num_steps = config.train.num_steps
  stop_at = config.train.stop_at_step
  last = min(num_steps, stop_at) if stop_at > 0 else num_steps
  mixture = Mixture([_sampler(config, p) for p in prepared],
                    [p.spec.weight for p in prepared], config.seed, num_steps)
  is_chief = jax.process_index() == 0
  writer = summary.ScalarWriter(os.path.join(workdir, 'tensorboard'),
                                enabled=is_chief)
  first = int(state.step)
  progress = summary.Progress(first, num_steps)
  with _Preemption() as preemption:
    for step in range(first, last):
      task, batch = mixture.batch(step)
      batch = _device_batch(batch, mesh, config.train.batch_size,
                            replicated_fields=('edge_weight',))
      state, scalars = fns.train(state, prepared[task].arrays, batch)
      scalars = {k: float(v) for k, v in jax.device_get(scalars).items()}
      if not scalars.pop('finite'):
        ckpts.close()
        what = ('loss' if not math.isfinite(scalars['loss']) else
                'parameter update')
        latest = ckpts.latest_step()
        kept = (f'the last good checkpoint is step {latest} in '
                f'{ckpts.directory}' if latest is not None else
                'no checkpoint was written yet')
        raise TrainingError(
            f'non-finite {what} (loss {scalars["loss"]}) at step {step + 1} '
            f'({prepared[task].graph.key}); nothing of it was saved; {kept}')
      done = step + 1
      scalars = {f'{prepared[task].graph.key}/{k}': v
                 for k, v in scalars.items()}
      if done % config.train.log_every == 0 or done == last:
        progress.log(done, scalars)
      writer.write(done, scalars)
      # Read the flag once: the handler may fire between two reads.
      preempted = preemption.requested
      ckpts.save(done, state, _record(config, done),
                 force=preempted or done == last)
      if preempted:
        ckpts.confirm_saved(done)
        ckpts.close()
        writer.close()
        logging.warning('preempted: saved step %d, exiting', done)
        raise SystemExit(143)
  if last > first:
    ckpts.confirm_saved(last)
  ckpts.close()
  writer.close()
  if last < num_steps:
    logging.info('stopped at step %d of %d (config.train.stop_at_step); '
                 'rerun the same command to resume', last, num_steps)
    return {}
  return _evaluate_model(config, workdir, model, state.params, mesh)


def _restore_params(config, workdir: str, model, mesh) -> Any:
  """Params for eval/predict: this workdir's latest readable checkpoint,
  else `config.init_workdir`'s, else `config.model.init_checkpoint`. The
  first of these that holds a saved step is the one used: if none of its
  steps is readable that is an error, never a silent fall back to another
  model. An `init_workdir` without any saved step, or nothing at all to
  evaluate, is caught before the graphs load."""
  if workdir and checkpoint.has_saved_step(workdir):
    source = workdir
  elif config.init_workdir:
    if not checkpoint.has_saved_step(config.init_workdir):
      _no_readable_checkpoint('init_workdir', config.init_workdir)
    source = config.init_workdir
  elif config.model.init_checkpoint:
    source = None
  else:
    raise ConfigError('init_workdir', f'no checkpoint in {workdir!r}, and '
                      'neither config.init_workdir nor '
                      'config.model.init_checkpoint is set')
  graphs = loading.load_graphs(config, eval_specs(config)[:1])
  prepared = _prepare(config, graphs, mesh)
  params = _init_params(model, config, prepared[0])
  optimizer = steps.make_optimizer(config, params)
  abstract = steps.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                              opt_state=optimizer.init(params))
  abstract = parallel.replicate(abstract, mesh)
  if source is not None:
    ckpts = checkpoint.Checkpoints(source, 1, 1000)
    restored = ckpts.restore(abstract)
    ckpts.close()
    if restored is None:
      _no_readable_checkpoint(
          'workdir' if source == workdir else 'init_workdir', source)
    logging.info('evaluating %s at step %d', source, int(restored[0].step))
    return restored[0].params
  return parallel.replicate(params, mesh)


def _no_readable_checkpoint(key: str, directory: str):
  raise ConfigError(key, f'{directory!r} holds no readable checkpoint in '
                    f'{checkpoint.directory_of(directory)} (has its training '
                    'run finished? are its files whole?)')


def evaluate(config: ml_collections.ConfigDict,
             workdir: str) -> dict[str, dict[str, float]]:
  """Evaluates a checkpoint (see `_restore_params`) on `config.eval.tasks`."""
  mesh = parallel.make_mesh()
  _check_config(config, mesh)
  os.makedirs(workdir, exist_ok=True)
  if config.model.name == 'baseline':
    return _evaluate_baselines(config, workdir)
  model = build_model(config)
  params = _restore_params(config, workdir, model, mesh)
  return _evaluate_model(config, workdir, model, params, mesh)


def _summaries(ranks: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
  out = {}
  for key, values in ranks.items():
    summarised = metrics.summarize(values)
    out[key] = {k: summarised[k] for k in RESULT_KEYS}
    logging.info('%s: %s', key, ', '.join(f'{k}={v:.4f}'
                                          for k, v in out[key].items()))
  return out


def _eval_split(config, graph: QueryGraph) -> str:
  split = config.eval.split
  if split not in graph.queries:
    raise ConfigError('eval.split', f'{graph.key} has no {split!r} queries '
                      f'(it has {sorted(graph.queries)})')
  return split


def _evaluate_model(config, workdir, model, params,
                    mesh) -> dict[str, dict[str, float]]:
  """Ranks every query of each eval dataset (queries sharing a node and
  relation in one row, one GNN pass); ranks so far are saved under
  `workdir/eval/`, so a killed or preempted evaluation resumes."""
  fns = steps.make_steps(model, steps.make_optimizer(config, params), config,
                         mesh)
  graphs = loading.load_graphs(config, eval_specs(config))
  split_of = {graph.key: _eval_split(config, graph) for _, graph in graphs}
  prepared = _prepare(config, [(spec, graph.for_split(split_of[graph.key]))
                               for spec, graph in graphs], mesh)
  ranks, routing, scales = {}, {}, {}
  with _Preemption() as preemption:
    ranker = _SplitRanker(config, workdir, fns, params, mesh, preemption)
    for item in prepared:
      graph = item.graph
      calibrating = _calibrates(config, graph)
      if calibrating:
        valid = _prepare(config, [(item.spec, graph.for_split('valid'))],
                         mesh)[0]
        scales[graph.key] = _choose_scale(
            config, model, params, valid.graph,
            ranker.rank(valid, 'valid', keep_scores=True))
      result = ranker.rank(item, split_of[graph.key],
                           keep_scores=_one_to_one(config, graph) or
                           calibrating)
      ranks[graph.key] = result['ranks']
      routing[graph.key] = (graph.task, result['weights'].mean(axis=0))
      if _one_to_one(config, graph):
        ranks[graph.key + evaluation.ONE_TO_ONE] = _matched_ranks(
            config, result['scores'], result['columns'])
      if calibrating:
        ranks.update(_calibrated_ranks(
            config, model, params, graph, split_of[graph.key], result,
            scales[graph.key]['learned_scale']))
  results = _summaries(ranks)
  if jax.process_index() == 0:
    evaluation.write_results(os.path.join(workdir, 'results.json'), results)
    _write_routing(workdir, routing, routed_of(config))
    if scales:
      _write_json(os.path.join(workdir, 'calibration.json'), scales)
  return results


class _SplitRanker:
  """Ranks one split of one prepared graph, resuming from (and saving to)
  `workdir/eval/`; a SIGTERM saves the ranks so far and exits."""

  def __init__(self, config, workdir: str, fns, params, mesh,
               preemption: _Preemption):
    self.config, self.workdir, self.fns = config, workdir, fns
    self.params, self.mesh, self.preemption = params, mesh, preemption
    self.fingerprint = evaluation.fingerprint(config, params)

  def rank(self, item: Prepared, split: str,
           keep_scores: bool) -> dict[str, np.ndarray]:
    """{'ranks', 'weights'} (+ 'scores', 'columns': `candidate_scores` of
    every row, with `keep_scores`)."""
    config, graph = self.config, item.graph
    saved = evaluation.SavedRanks(
        evaluation.saved_ranks_path(self.workdir, graph.key, split),
        self.fingerprint, config.eval.save_every_seconds,
        writes=jax.process_index() == 0)
    index = parallel.replicate(padding.candidate_index(graph), self.mesh)
    candidates = np.flatnonzero(graph.candidates)
    progress = evaluation.Progress(graph, split, done=saved.ranked)
    for batch in eval_batches(graph, split, config.eval.batch_size,
                              item.budget, first_batch=saved.batches):
      device = _device_batch(batch, self.mesh, config.eval.batch_size)
      batch_ranks, batch_routing, batch_scores = self.fns.eval(
          self.params, item.arrays, device, index)
      # Routing weights count once per answer, as the ranks do.
      answered = batch.answer_valid.sum(axis=1)
      rows = {}
      if keep_scores:
        rows['scores'], rows['columns'] = evaluation.candidate_scores(
            _gather(batch_scores)[:, :len(candidates)], batch, candidates)
      saved.add(ranks=_gather(batch_ranks)[batch.answer_valid],
                weights=np.repeat(_gather(batch_routing), answered, axis=0),
                **rows)
      progress.update(int(answered.sum()))
      if self.preemption.requested:
        saved.save()
        logging.warning('preempted: saved the ranks of %d queries of %s/%s, '
                        'exiting', progress.done, graph.key, split)
        raise SystemExit(143)
    progress.finish()
    saved.save()
    return saved.result()


def _calibrates(config, graph: QueryGraph) -> bool:
  """Whether `graph`'s test ranking also gets a calibrated learned scale
  (EA and EL: the tasks whose logits have a cosine prior)."""
  if not (config.eval.calibrate_learned_scale and graph.task in ('ea', 'el')):
    return False
  if 'valid' not in graph.queries:
    raise ConfigError('eval.calibrate_learned_scale', f'{graph.key} has no '
                      f'held-out queries; set {graph.task}.valid_fraction > 0')
  held_out = len(graph.queries['valid'])
  if held_out < config.eval.calibration_min_queries:
    raise ConfigError(
        'eval.calibration_min_queries', f'{graph.key} holds out {held_out} '
        f'queries, fewer than {config.eval.calibration_min_queries}: raise '
        f'{graph.task}.valid_fraction (or, knowingly, this minimum)')
  return True


def _choose_scale(config, model, params, graph: QueryGraph,
                  result: dict[str, np.ndarray]) -> dict:
  prior, learned = calibration.score_parts(graph, model.modalities, params,
                                           'valid', result['scores'])
  scale, mrr = calibration.choose_scale(prior, learned, result['columns'],
                                        config.eval.ties)
  gain, error = calibration.gain_over_full_scale(
      prior, learned, result['columns'], scale, config.eval.ties)
  logging.info('%s: learned-term scale %.1f, held-out MRR %+.4f ± %.4f over '
               'scale 1 (%s)', graph.key, scale, gain, error,
               ', '.join(f'{s:g}: {m:.4f}' for s, m in mrr.items()))
  return {'learned_scale': scale, 'valid_pairs': len(result['ranks']),
          'valid_mrr': {f'{s:g}': m for s, m in mrr.items()},
          'valid_gain_over_full_scale': {'mrr': gain,
                                         'standard_error': error}}


def _calibrated_ranks(config, model, params, graph: QueryGraph, split: str,
                      result: dict[str, np.ndarray],
                      scale: float) -> dict[str, np.ndarray]:
  prior, learned = calibration.score_parts(graph, model.modalities, params,
                                           split, result['scores'])
  scores = calibration.scaled(prior, learned, scale)
  key = graph.key + calibration.CALIBRATED
  out = {key: evaluation.matrix_ranks(scores, result['columns'],
                                      config.eval.ties)}
  if _one_to_one(config, graph):
    out[key + evaluation.ONE_TO_ONE] = _matched_ranks(
        config, scores, result['columns'])
  return out


def _gather(x: jax.Array) -> np.ndarray:
  """A sharded global array → the full host array on every process."""
  if jax.process_count() == 1:
    return np.asarray(x)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def _write_routing(workdir: str, routing: dict[str, tuple[str, np.ndarray]],
                   names: tuple[str, ...]) -> None:
  """routing.json ({task: {representation: weight}}), per dataset, and the
  plot; `names` are the model's routed representations."""
  by_dataset = {key: dict(zip(names, map(float, w)))
                for key, (_, w) in routing.items()}
  by_task: dict[str, list[np.ndarray]] = {}
  for task, w in routing.values():
    by_task.setdefault(task, []).append(w)
  tasks = {task: dict(zip(names, map(float, np.mean(ws, axis=0))))
           for task, ws in by_task.items()}
  for name, content in (('routing.json', tasks),
                        ('routing_by_dataset.json', by_dataset)):
    _write_json(os.path.join(workdir, name), content)
  plots.routing_plot(os.path.join(workdir, 'routing.png'), tasks, by_dataset)


def _write_json(path: str, content: dict) -> None:
  with open(path, 'w') as f:
    json.dump(content, f, indent=2, sort_keys=True)
    f.write('\n')


def _one_to_one(config, graph) -> bool:
  """Whether `graph` is also ranked after one-to-one matching (EA only:
  each entity has one counterpart; EL and LP answers are shared)."""
  return graph.task == 'ea' and config.eval.sinkhorn_temperature > 0


def _matched_ranks(config, scores: np.ndarray,
                   columns: np.ndarray) -> np.ndarray:
  start = time.time()
  ranks = evaluation.one_to_one_ranks(
      scores, columns, config.eval.sinkhorn_temperature,
      config.eval.sinkhorn_iterations, config.eval.ties)
  logging.info('one-to-one matching of %d x %d scores: %.1f s',
               *scores.shape, time.time() - start)
  return ranks


def _evaluate_baselines(config, workdir) -> dict[str, dict[str, float]]:
  graphs = loading.load_graphs(config, eval_specs(config))
  budgets = _budgets(config)
  ranks = {}
  for _, graph in graphs:
    budget = padding.choose_budget(graph, budgets)
    arrays = padding.graph_arrays(graph, budget, config.features.k)
    score = (baselines.relation_frequency(graph, budget.nodes)
             if graph.task == 'lp' else
             baselines.feature_cosine(graph, budget.nodes))
    rows = []
    if _one_to_one(config, graph):
      score = evaluation.keeping_candidate_scores(
          score, np.flatnonzero(graph.candidates), rows)
    ranks[graph.key] = evaluation.evaluate_split(
        graph, _eval_split(config, graph), budget, config.eval.batch_size,
        evaluation.host_scorer(score, arrays, config.eval.ties))
    if rows:
      ranks[graph.key + evaluation.ONE_TO_ONE] = _matched_ranks(
          config, *(np.concatenate(parts) for parts in zip(*rows)))
  results = _summaries(ranks)
  evaluation.write_results(os.path.join(workdir, 'results.json'), results)
  return results


def predict(config: ml_collections.ConfigDict, workdir: str, query: str,
            task: str | None = None, top_k: int = 10) -> dict:
  """Top-k answers, with names, for one query; see `predict_query`."""
  from mtaimkg_jax import prediction  # pylint: disable=g-import-not-at-top
  mesh = parallel.make_mesh()
  _check_config(config, mesh)
  specs = eval_specs(config)
  if task is not None:
    specs = [s for s in specs if s.dataset == task]
    if not specs:
      raise ConfigError('task', f'{task!r} is not a dataset of config.tasks')
  model = build_model(config)
  params = _restore_params(config, workdir, model, mesh)
  graphs = loading.load_graphs(config, specs[:1])
  prepared = _prepare(config, graphs, mesh)[0]
  return prediction.predict_query(config, model, params, prepared.graph,
                                  prepared.budget, query, top_k, mesh)

