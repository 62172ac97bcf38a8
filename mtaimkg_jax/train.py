"""`train_and_evaluate(config, workdir)`: the training loop, then evaluation.

Each step trains on one task of the mixture (`task_schedule`, drawn by
weight), with a batch that is a pure function of (seed, step), so a
resumed run sees exactly the data an uninterrupted one would. Writes into
the workdir `config.json` (the run's config), `checkpoints/<step>/` and
TensorBoard scalars under `tensorboard/` (loss terms per dataset,
learning rate, steps/s; evaluation adds its metrics); evaluation
(`eval/runner.py`) writes the rest.
"""

from __future__ import annotations

import logging
import math
import os
import time

import jax
import ml_collections
import numpy as np

from mtaimkg_jax import checkpoint, parallel, steps, summary
from mtaimkg_jax.data.batches import TrainSampler
from mtaimkg_jax.errors import ConfigError, TrainingError
from mtaimkg_jax.eval import runner
from mtaimkg_jax.experiment import (Experiment, Prepared, check_resumable,
                                    resolve_init)
from mtaimkg_jax.types import TrainBatch


def sampler(config: ml_collections.ConfigDict,
            prepared: Prepared) -> TrainSampler:
  """The training batches of one graph, negatives drawn its kind's way."""
  contrastive = prepared.kind.negatives == 'contrastive'
  return TrainSampler(
      graph=prepared.graph, budget=prepared.budget,
      batch_size=config.train.batch_size,
      num_negatives=config.train.num_negatives, seed=config.seed,
      negatives=prepared.kind.negatives,
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


def _record(config: ml_collections.ConfigDict, step: int) -> dict:
  return {'step': step, 'seed': config.seed, 'data_position': step,
          'tasks': [list(map(str, t)) for t in config.tasks]}


def _check_finite(scalars: dict[str, float], step: int, key: str,
                  ckpts: checkpoint.Checkpoints) -> None:
  """Raises `TrainingError` (after closing `ckpts`) when the step's loss
  or parameter update is not finite: nothing of it is saved."""
  if scalars.pop('finite'):
    return
  ckpts.close()
  what = 'loss' if not math.isfinite(scalars['loss']) else 'parameter update'
  latest = ckpts.latest_step()
  kept = (f'the last good checkpoint is step {latest} in {ckpts.directory}'
          if latest is not None else 'no checkpoint was written yet')
  raise TrainingError(f'non-finite {what} (loss {scalars["loss"]}) at step '
                      f'{step} ({key}); nothing of it was saved; {kept}')


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict[str, dict]:
  """Trains on `config.tasks`, then evaluates and writes the results.

  Every input evaluation will read is checked before the first step, and a
  workdir holding another config's run is refused before anything is
  written to it.
  """
  if not workdir:
    raise ConfigError('workdir', 'a --workdir is required')
  experiment = Experiment(config)
  with checkpoint.WorkdirLock(workdir):
    return _train_and_evaluate(experiment, workdir)


def _train_and_evaluate(experiment: Experiment,
                        workdir: str) -> dict[str, dict]:
  config = experiment.config
  check_resumable(config, workdir)
  experiment.load_all(experiment.train_specs + experiment.eval_specs)
  runner.check(experiment)
  prepared = [experiment.prepare(spec) for spec in experiment.train_specs]
  num_steps = config.train.num_steps
  mixture = Mixture([sampler(config, p) for p in prepared],
                    [p.spec.weight for p in prepared], config.seed, num_steps)
  chief = jax.process_index() == 0
  init = resolve_init(config, workdir, training=True)
  # A new run starts from another run's parameters, else fresh ones (with
  # a backbone file's, `model.init_checkpoint`); a resumed run's state is
  # restored from its own checkpoint below.
  state = experiment.state(experiment.params_of(init)
                           if init.kind == 'init_workdir' else
                           experiment.init_params(prepared[0]))
  ckpts = checkpoint.Checkpoints(workdir, config.train.checkpoint_every,
                                 config.train.keep_checkpoints)
  restored = experiment.restore(ckpts, state, 'workdir', workdir,
                                set_aside=True)
  if restored is not None:
    state, record = restored
    if record.get('seed') != config.seed:
      raise ConfigError('seed', f'workdir {workdir} holds a run with seed '
                        f'{record.get("seed")}; use another workdir')
    logging.info('resumed from step %d', int(state.step))
  if chief:
    checkpoint.write_config(workdir, config)
  experiment.write_data_report(workdir)
  stop_at = config.train.stop_at_step
  last = min(num_steps, stop_at) if stop_at > 0 else num_steps
  fns = steps.make_steps(experiment.model, experiment.optimizer(state.params),
                         config, experiment.mesh)
  schedule = steps.learning_rate(config)
  writer = summary.MetricWriter(os.path.join(workdir, 'tensorboard'),
                                enabled=chief)
  first = int(state.step)
  bar = summary.progress(num_steps, 'train', unit='step', initial=first,
                         enabled=chief)
  compiled = set()
  clock = (first, time.time())
  with checkpoint.Preemption() as preemption:
    for step in range(first, last):
      task, batch = mixture.batch(step)
      item = prepared[task]
      batch = parallel.device_batch(batch, experiment.mesh,
                                    config.train.batch_size,
                                    replicated_fields=('edge_weight',))
      compiling, started = item.budget not in compiled, time.time()
      if compiling:
        logging.info('compiling the train step for %s (%s)',
                     item.graph.key, item.budget)
      state, scalars = fns.train(state, item.arrays, batch)
      scalars = {k: float(v) for k, v in jax.device_get(scalars).items()}
      if compiling:
        compiled.add(item.budget)
        logging.info('compiled and ran the first step in %.1f s',
                     time.time() - started)
      done = step + 1
      _check_finite(scalars, done, item.graph.key, ckpts)
      scalars = {f'train/{item.graph.key}/{k}': v for k, v in scalars.items()}
      scalars['train/learning_rate'] = float(schedule(step))
      if done % config.train.log_every == 0 or done == last:
        scalars['train/steps_per_second'] = (
            (done - clock[0]) / max(time.time() - clock[1], 1e-9))
        clock = (done, time.time())
        logging.info('step %d/%d: %s', done, num_steps, ', '.join(
            f'{k}={v:.4g}' for k, v in sorted(scalars.items())))
      writer.write_scalars(done, scalars)
      bar.update(1)
      # Read the flag once: the handler may fire between two reads.
      preempted = preemption.requested
      ckpts.save(done, state, _record(config, done),
                 force=preempted or done == last)
      if preempted:
        ckpts.confirm_saved(done)
        ckpts.close()
        writer.close()
        bar.close()
        logging.warning('preempted: saved step %d, exiting', done)
        raise SystemExit(143)
  bar.close()
  if last > first:
    ckpts.confirm_saved(last)
  ckpts.close()
  writer.close()
  if last < num_steps:
    logging.info('stopped at step %d of %d (config.train.stop_at_step); '
                 'rerun the same command to resume', last, num_steps)
    return {}
  return runner.evaluate(experiment, state.params, workdir, step=last)
