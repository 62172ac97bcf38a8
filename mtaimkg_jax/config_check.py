"""Validation of every config key before any work starts, and the
comparison of a config with the one a checkpoint was trained with.

ml_collections already refuses a value of the wrong type from the command
line; this module refuses values of the right type that make no sense
(negative sizes, NaN learning rates, unknown names), naming the key.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Iterator

import ml_collections

from mtaimkg_jax import config_base
from mtaimkg_jax.data import features, loading
from mtaimkg_jax.errors import ConfigError, raise_together
from mtaimkg_jax.types import TASKS, VIEWS

# What a checkpoint's saved config decides at evaluation (copied from it
# unless the command line names the key), and what a resumed run must
# agree on (`config_base` roles).
SAVED_KEYS = config_base.keys_with_role('model', 'ranking')
RESUME_KEYS = config_base.keys_with_role('model', 'data')
RUNTIME_KEYS = config_base.keys_with_role('runtime')


def _get(config: ml_collections.ConfigDict, key: str) -> Any:
  value = config
  for part in key.split('.'):
    value = value[part]
  return value


def _caught(check, *args) -> Iterator[ConfigError]:
  """The `ConfigError` that `check(*args)` raises, if any."""
  try:
    check(*args)
  except ConfigError as e:
    yield e


def _field_problems(config: ml_collections.ConfigDict
                    ) -> Iterator[ConfigError]:
  """Each key whose value has the wrong type or range on its own (its
  `config_base.Key.check`), then the structured keys."""
  for entry in config_base.KEYS:
    problem = entry.check(_get(config, entry.name))
    if problem:
      yield ConfigError(entry.name, problem)
  view_tasks = config.features.view_tasks
  if set(view_tasks.keys()) != set(VIEWS):
    yield ConfigError('features.view_tasks', f'must have one entry per view '
                      f'{VIEWS}, got {sorted(view_tasks.keys())}')
  else:
    for view in VIEWS:
      problem = config_base.names(*TASKS)(view_tasks[view])
      if problem:
        yield ConfigError(f'features.view_tasks.{view}', problem)
  if not isinstance(config.data.synthetic,
                    (dict, ml_collections.ConfigDict)):
    yield ConfigError('data.synthetic', 'must be a dict of generator '
                      f'options, got {config.data.synthetic!r}')
  yield from _caught(loading.parse_tasks, config.tasks)
  if config.eval.tasks:
    yield from _caught(loading.parse_tasks, config.eval.tasks, 'eval.tasks')
  for i, budget in enumerate(config.padding.budgets):
    if not isinstance(budget, (dict, ml_collections.ConfigDict)) or set(
        budget) != {'nodes', 'edges', 'relations', 'relation_edges'}:
      yield ConfigError(f'padding.budgets[{i}]', 'expected a dict with keys '
                        'nodes, edges, relations, relation_edges')
      continue
    for name, value in dict(budget).items():
      problem = config_base.integer(1)(value)
      if problem:
        yield ConfigError(f'padding.budgets[{i}].{name}', problem)


def _relation_problems(config: ml_collections.ConfigDict,
                       data_devices: int) -> Iterator[ConfigError]:
  """Keys whose values are fine alone but not together (read only once
  every key has the right type)."""
  yield from _caught(features.text_encoder_dims,
                     config.features.text_encoder)
  cache = existing = config.data.cache_dir
  while existing and not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if existing and not os.path.isdir(existing):
    yield ConfigError('data.cache_dir', f'{cache!r} cannot be a directory: '
                      f'{existing!r} is a file')
  if config.eval.calibrate_learned_scale and config.model.name != 'mtaimkg':
    yield ConfigError('eval.calibrate_learned_scale', 'scales the learned '
                      f'terms of MtaIMKG; model.name is {config.model.name!r}')
  if config.eval.calibrate_learned_scale and config.eval.self_training_rounds:
    yield ConfigError('eval.self_training_rounds', 'ranks again with '
                      'pseudo-seeds, while eval.calibrate_learned_scale '
                      'chooses its scale on a ranking without them: use '
                      'one or the other')
  if config.model.freeze_backbone and config.model.name != 'mtaimkg':
    yield ConfigError('model.freeze_backbone', 'freezes the backbone of '
                      'MtaIMKG, whose other parts train; model.name is '
                      f'{config.model.name!r}, which would train nothing')
  if config.model.top_k > config.model.num_experts:
    yield ConfigError('model.top_k', f'{config.model.top_k} exceeds '
                      f'model.num_experts={config.model.num_experts}')
  for key in ('train.batch_size', 'eval.batch_size'):
    if _get(config, key) % data_devices:
      yield ConfigError(key, f'{_get(config, key)} is not divisible by the '
                        f'{data_devices} devices of the data axis')
  tasks = loading.parse_tasks(config.tasks)
  if sum(t.weight for t in tasks) <= 0:
    yield ConfigError('tasks', 'the task weights sum to 0')
  if any(t.kind.negatives == 'contrastive' for t in tasks):
    need = config.train.batch_size - 1 + config.train.num_hard_negatives
    if need > config.train.num_negatives:
      yield ConfigError(
          'train.num_negatives', f'{config.train.num_negatives} cannot hold '
          f'the {config.train.batch_size - 1} in-batch and '
          f'{config.train.num_hard_negatives} hard negatives of EA/EL tasks')


def validate(config: ml_collections.ConfigDict,
             data_devices: int = 1) -> None:
  """Raises one `ConfigError` naming every invalid key: all problems of a
  config at once, not one per attempt."""
  problems = list(_field_problems(config))
  if not problems:
    problems = list(_relation_problems(config, data_devices))
  raise_together(problems)


def flat_items(config: ml_collections.ConfigDict,
               prefix: str = '') -> Iterator[tuple[str, Any]]:
  """('section.key', value) of every leaf of `config`."""
  for key, value in config.items():
    name = f'{prefix}{key}'
    if isinstance(value, ml_collections.ConfigDict):
      yield from flat_items(value, f'{name}.')
    else:
      yield name, value


def _under(key: str, prefixes: Iterable[str]) -> bool:
  return any(key == p or key.startswith(f'{p}.') for p in prefixes)


def differences(saved: ml_collections.ConfigDict,
                config: ml_collections.ConfigDict,
                prefixes: Iterable[str],
                ignored: Iterable[str] = ()) -> list[str]:
  """'key: saved value → this value' for every key under `prefixes` (minus
  `RUNTIME_KEYS` and `ignored`) on which the two configs differ; keys only
  one of them has count as differing."""
  prefixes = tuple(prefixes)
  ignored = RUNTIME_KEYS + tuple(ignored)
  theirs = {k: v for k, v in flat_items(saved) if _under(k, prefixes)}
  ours = {k: v for k, v in flat_items(config) if _under(k, prefixes)}
  out = []
  for key in sorted(set(theirs) | set(ours)):
    if key in ignored or theirs.get(key) == ours.get(key):
      continue
    out.append(f'{key}: {theirs.get(key, "(absent)")!r} in the run, '
               f'{ours.get(key, "(absent)")!r} here')
  return out


# The keys that decide which queries of a dataset of each task are
# training, held-out and test queries (LP splits are files).
SPLIT_KEYS = {'ea': ('seed', 'ea.train_ratio', 'ea.valid_fraction'),
              'el': ('seed', 'el.valid_fraction')}


def check_same_splits(trained: ml_collections.ConfigDict,
                      config: ml_collections.ConfigDict) -> None:
  """Raises `ConfigError` naming the keys when `config` evaluates a dataset
  the `trained` run trained on with another split of it: its test or
  held-out queries would include pairs or mentions the checkpoint
  trained on."""
  trained_on = {dataset for _, dataset, _ in trained.tasks}
  evaluated = loading.parse_tasks(config.eval.tasks or config.tasks,
                                  'eval.tasks' if config.eval.tasks
                                  else 'tasks')
  problems = []
  for spec in evaluated:
    if spec.dataset not in trained_on:
      continue
    for key in SPLIT_KEYS.get(spec.task, ()):
      if _get(trained, key) != _get(config, key):
        problems.append(ConfigError(key, (
            f'{spec.dataset} was trained on with {key}={_get(trained, key)!r}'
            f'; evaluating it with {_get(config, key)!r} would rank queries '
            'the checkpoint trained on (use the run\'s own value)')))
  raise_together(problems)


def with_saved_model(config: ml_collections.ConfigDict,
                     saved: ml_collections.ConfigDict,
                     overridden: Iterable[str]) -> ml_collections.ConfigDict:
  """`config` with the `SAVED_KEYS` of a run's saved config, except the
  keys the command line `overridden`: evaluation and
  prediction rebuild the model the checkpoint holds."""
  overridden = tuple(overridden)
  out = ml_collections.ConfigDict(config.to_dict())
  for key, value in flat_items(saved):
    if (_under(key, SAVED_KEYS) and
        not _under(key, overridden)):
      section, *path = key.split('.')
      node = out[section]
      for part in path[:-1]:
        node = node[part]
      node[path[-1]] = value
  return out
