"""Validation of every config key before any work starts, and the
comparison of a config with the one a checkpoint was trained with.

ml_collections already refuses a value of the wrong type from the command
line; this module refuses values of the right type that make no sense
(negative sizes, NaN learning rates, unknown names), naming the key.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

import ml_collections

from mtaimkg_jax import metrics
from mtaimkg_jax.data import features, loading
from mtaimkg_jax.errors import ConfigError, raise_together
from mtaimkg_jax.types import ABLATIONS, ALL_MODALITIES, TASKS, VIEWS

# The sections that define a checkpoint's model: its parameters and what it
# reads. Evaluation and prediction take them from the run's saved config.
MODEL_SECTIONS = ('model', 'features')
# Keys of those sections that only change how the model runs.
RUNTIME_KEYS = ('model.chunk_size', 'model.remat', 'model.init_checkpoint')
# Keys of those sections that training ignores (EA's reference queries:
# training drops them, `steps.make_steps`): a finished run resumed with
# another value ranks its checkpoint again with it.
RANKING_KEYS = ('model.num_references',)
# What else a resumed training run must agree on: the data it draws from
# and the optimizer state's structure.
TRAINING_KEYS = ('seed', 'tasks', 'ea', 'el', 'data.synthetic')
BREAKDOWNS = ('direction', 'relation')
SPLITS = ('train', 'valid', 'test')

MODELS = ('mtaimkg', 'ultra')

# key: (kind, minimum) — kind 'int' or 'float'; minimum inclusive unless the
# third entry says 'exclusive'.
_NUMBERS: dict[str, tuple] = {
    'seed': ('int', 0),
    'features.k': ('int', 1),
    'model.dim': ('int', 1),
    'model.num_layers': ('int', 1),
    'model.task_dim': ('int', 1),
    'model.num_experts': ('int', 1),
    'model.expert_hidden': ('int', 1),
    'model.gate_hidden': ('int', 1),
    'model.evidence_hidden': ('int', 0),
    'model.num_references': ('int', 0),
    'model.top_k': ('int', 0),
    'model.chunk_size': ('int', 1),
    'train.num_steps': ('int', 0),
    'train.batch_size': ('int', 1),
    'train.num_negatives': ('int', 1),
    'train.num_hard_negatives': ('int', 0),
    'train.warmup_steps': ('int', 0),
    'train.log_every': ('int', 1),
    'train.checkpoint_every': ('int', 1),
    'train.keep_checkpoints': ('int', 1),
    'eval.batch_size': ('int', 1),
    'eval.max_queries': ('int', 0),
    'model.names_prior': ('float', 0),
    'eval.save_every_seconds': ('float', 0),
    'eval.sinkhorn_temperature': ('float', 0),
    'eval.sinkhorn_iterations': ('int', 1),
    'eval.calibration_min_queries': ('int', 1),
    'train.learning_rate': ('float', 0, 'exclusive'),
    'train.final_lr_fraction': ('float', 0),
    'train.backbone_lr_scale': ('float', 0),
    'train.weight_decay': ('float', 0),
    'train.grad_clip': ('float', 0, 'exclusive'),
    'train.adversarial_temperature': ('float', 0),
    'train.contrastive_temperature': ('float', 0, 'exclusive'),
    'train.balance_weight': ('float', 0),
    'ea.train_ratio': ('float', 0, 'exclusive'),
    'ea.valid_fraction': ('float', 0),
    'el.valid_fraction': ('float', 0),
}
_CHOICES = {
    'model.name': MODELS,
    'ea.candidates': ('test', 'all'),
    'train.contrastive_loss': ('bce', 'infonce'),
    'eval.ties': metrics.TIES,
    'features.unification': features.UNIFICATIONS,
    'eval.split': SPLITS,
    'eval.baseline': ('', 'feature_cosine', 'relation_frequency'),
}
_BOOLS = ('model.routing', 'model.remat', 'model.freeze_backbone',
          'eval.calibrate_learned_scale', 'data.strict')
_STRINGS = ('data.root', 'data.cache_dir', 'model.init_checkpoint',
            'init_workdir', 'eval.split', 'features.text_encoder')


def _get(config: ml_collections.ConfigDict, key: str) -> Any:
  value = config
  for part in key.split('.'):
    value = value[part]
  return value


def _number(key: str, value: Any, kind: str, minimum: float,
            exclusive: bool) -> None:
  is_int = isinstance(value, int) and not isinstance(value, bool)
  if kind == 'int' and not is_int:
    raise ConfigError(key, f'must be an integer, got {value!r}')
  if kind == 'float' and not (is_int or isinstance(value, float)):
    raise ConfigError(key, f'must be a number, got {value!r}')
  if not math.isfinite(value):
    raise ConfigError(key, f'must be finite, got {value!r}')
  if value < minimum or (exclusive and value == minimum):
    bound = '>' if exclusive else '≥'
    raise ConfigError(key, f'must be {bound} {minimum}, got {value!r}')


def _distinct(key: str, chosen: Any, allowed: tuple[str, ...]) -> None:
  if (not isinstance(chosen, (tuple, list)) or
      any(v not in allowed for v in chosen) or len(set(chosen)) != len(chosen)):
    raise ConfigError(key, f'must be distinct names among {allowed}, got '
                      f'{chosen!r}')


def _caught(check, *args) -> Iterator[ConfigError]:
  """The `ConfigError` that `check(*args)` raises, if any."""
  try:
    check(*args)
  except ConfigError as e:
    yield e


def _field_problems(config: ml_collections.ConfigDict
                    ) -> Iterator[ConfigError]:
  """Each key whose value has the wrong type or range on its own."""
  for key, (kind, minimum, *rest) in _NUMBERS.items():
    yield from _caught(_number, key, _get(config, key), kind, minimum,
                       bool(rest))
  for key, choices in _CHOICES.items():
    if _get(config, key) not in choices:
      yield ConfigError(key, f'must be one of {choices}, got '
                        f'{_get(config, key)!r}')
  for key in _BOOLS:
    if not isinstance(_get(config, key), bool):
      yield ConfigError(key, f'must be True or False, got '
                        f'{_get(config, key)!r}')
  for key in _STRINGS:
    if not isinstance(_get(config, key), str):
      yield ConfigError(key, f'must be a string, got {_get(config, key)!r}')
  stop = config.train.stop_at_step
  if (not isinstance(stop, int) or isinstance(stop, bool) or
      (stop != -1 and stop < 1)):
    yield ConfigError('train.stop_at_step', f'must be -1 (off) or ≥ 1, got '
                      f'{stop!r}')
  yield from _caught(_distinct, 'features.views', config.features.views,
                     VIEWS)
  yield from _caught(_distinct, 'eval.breakdown', config.eval.breakdown,
                     BREAKDOWNS)
  yield from _caught(_distinct, 'model.without', config.model.without,
                     ABLATIONS + ALL_MODALITIES)
  view_tasks = config.features.view_tasks
  if set(view_tasks.keys()) != set(VIEWS):
    yield ConfigError('features.view_tasks', f'must have one entry per view '
                      f'{VIEWS}, got {sorted(view_tasks.keys())}')
  else:
    for view in VIEWS:
      yield from _caught(_distinct, f'features.view_tasks.{view}',
                         view_tasks[view], TASKS)
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
      yield from _caught(_number, f'padding.budgets[{i}].{name}', value,
                         'int', 1, False)


def _relation_problems(config: ml_collections.ConfigDict,
                       data_devices: int) -> Iterator[ConfigError]:
  """Keys whose values are fine alone but not together (read only once
  every key has the right type)."""
  yield from _caught(features.text_encoder_dims,
                     config.features.text_encoder)
  if config.ea.train_ratio >= 1:
    yield ConfigError('ea.train_ratio', f'must be < 1, got '
                      f'{config.ea.train_ratio!r}')
  for key in ('ea.valid_fraction', 'el.valid_fraction'):
    if _get(config, key) >= 1:
      yield ConfigError(key, f'must be < 1, got {_get(config, key)!r}')
  if config.eval.calibrate_learned_scale and config.model.name != 'mtaimkg':
    yield ConfigError('eval.calibrate_learned_scale', 'scales the learned '
                      f'terms of MtaIMKG; model.name is {config.model.name!r}')
  if config.model.freeze_backbone and config.model.name != 'mtaimkg':
    yield ConfigError('model.freeze_backbone', 'freezes the backbone of '
                      'MtaIMKG, whose other parts train; model.name is '
                      f'{config.model.name!r}, which would train nothing')
  if config.train.final_lr_fraction > 1:
    yield ConfigError('train.final_lr_fraction', 'must be ≤ 1')
  if config.train.backbone_lr_scale > 1:
    yield ConfigError('train.backbone_lr_scale', 'must be ≤ 1 (a fraction '
                      'of train.learning_rate)')
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
  """`config` with the `MODEL_SECTIONS` of a run's saved config, except the
  keys the command line `overridden` (and `RUNTIME_KEYS`): evaluation and
  prediction rebuild the model the checkpoint holds."""
  overridden = tuple(overridden)
  out = ml_collections.ConfigDict(config.to_dict())
  for key, value in flat_items(saved):
    if (_under(key, MODEL_SECTIONS) and key not in RUNTIME_KEYS and
        not _under(key, overridden)):
      section, *path = key.split('.')
      node = out[section]
      for part in path[:-1]:
        node = node[part]
      node[path[-1]] = value
  return out
