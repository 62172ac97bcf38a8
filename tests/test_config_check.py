"""Hostile config values: the project's clear error naming the key, or a
config that passes every documented bound (hypothesis, fixed seed)."""
# Tests reach into private helpers on purpose.
# pylint: disable=protected-access

import math

import hypothesis
import pytest
from hypothesis import strategies as st

from configs import test as test_config
from mtaimkg_jax import config_base, config_check
from mtaimkg_jax.errors import ConfigError

_SETTINGS = hypothesis.settings(max_examples=300, deadline=None,
                                derandomize=True)

_INTS = st.integers(-10**6, 10**6)
_FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.floats(-10, 10)
_STRINGS = st.text(max_size=12) | st.sampled_from(
    ['bce', 'infonce', 'test', 'all', 'mtaimkg', 'ultra',
     'realistic', 'pessimistic', 'optimistic'])


def _value_for(current):
  if isinstance(current, bool):
    return st.booleans()
  if isinstance(current, int):
    return _INTS
  if isinstance(current, float):
    return _FLOATS
  if isinstance(current, str):
    return _STRINGS
  return st.nothing()


# Every scalar key of the schema.
_KEYS = sorted(k.name for k in config_base.KEYS
               if isinstance(k.default, (bool, int, float, str)))


def _set(config, key, value):
  node = config
  *parents, last = key.split('.')
  for part in parents:
    node = node[part]
  node[last] = value


@_SETTINGS
@hypothesis.given(data=st.data(), key=st.sampled_from(_KEYS))
def test_fuzz_config_values(data, key):
  config = test_config.get_config()
  node = config
  for part in key.split('.'):
    node = node[part]
  value = data.draw(_value_for(node))
  _set(config, key, value)
  try:
    config_check.validate(config)
  except ConfigError as e:
    assert key.split('.')[-1] in str(e) or 'num_negatives' in str(e)
    return
  # Accepted: the schema's check holds, and a number is finite and of the
  # default's kind.
  assert config_base.key(key).check(value) is None
  default = config_base.key(key).default
  if isinstance(value, (int, float)) and not isinstance(value, bool):
    assert math.isfinite(value)
    assert not (isinstance(default, int) and isinstance(value, float))


@_SETTINGS
@hypothesis.given(tasks=st.lists(
    st.tuples(st.sampled_from(['lp', 'ea', 'el', 'xx', '']),
              st.text(max_size=10) | st.sampled_from(
                  ['lp/synthetic', 'ea/synthetic', 'el/synthetic']),
              st.floats(allow_nan=True, allow_infinity=True) | st.integers()),
    max_size=4))
def test_fuzz_task_lists(tasks):
  config = test_config.get_config()
  config.tasks = tuple(tasks)
  try:
    config_check.validate(config)
  except ConfigError as e:
    assert 'tasks' in str(e) or 'num_negatives' in str(e)
    return
  assert tasks and all(t[1].startswith(t[0] + '/') for t in tasks)


@pytest.mark.parametrize('key,value,match', [
    ('train.learning_rate', float('nan'), 'finite'),
    ('train.batch_size', 0, '≥ 1'),
    ('model.top_k', 3, 'exceeds'),
    ('train.stop_at_step', 0, '-1'),
    ('eval.ties', 'random', 'one of'),
])
def test_named_errors(key, value, match):
  config = test_config.get_config()
  _set(config, key, value)
  with pytest.raises(ConfigError, match=match) as error:
    config_check.validate(config)
  assert key.split('.')[-1] in str(error.value)


def test_a_frozen_backbone_needs_a_model_with_other_parts():
  config = test_config.get_config()
  config.model.freeze_backbone = True
  config_check.validate(config)
  config.model.name = 'ultra'
  with pytest.raises(ConfigError, match='model.freeze_backbone'):
    config_check.validate(config)


def test_self_training_and_calibration_are_one_or_the_other():
  config = test_config.get_config()
  config.eval.self_training_rounds = 2
  config_check.validate(config)
  config.eval.calibrate_learned_scale = True
  with pytest.raises(ConfigError, match='eval.self_training_rounds'):
    config_check.validate(config)


def test_budgets_and_devices():
  config = test_config.get_config()
  config.padding.budgets = ({'nodes': 10, 'edges': -1, 'relations': 8,
                             'relation_edges': 8},)
  with pytest.raises(ConfigError, match=r'padding.budgets\[0\].edges'):
    config_check.validate(config)
  config = test_config.get_config()
  with pytest.raises(ConfigError, match='not divisible'):
    config_check.validate(config, data_devices=3)


def test_evaluating_a_trained_dataset_on_another_split_names_the_keys():
  trained = test_config.get_config()
  config = test_config.get_config()
  config_check.check_same_splits(trained, config)
  config.seed = 1
  config.ea.train_ratio = 0.5
  with pytest.raises(ConfigError) as caught:
    config_check.check_same_splits(trained, config)
  assert 'seed' in str(caught.value) and 'ea.train_ratio' in str(
      caught.value) and 'ea/synthetic' in str(caught.value)
  # A dataset the run never trained on may be split any way.
  config.eval.tasks = (('ea', 'ea/other', 1.0),)
  config_check.check_same_splits(trained, config)
  # LP splits are files: the seed does not change them.
  config.eval.tasks = (('lp', 'lp/synthetic', 1.0),)
  config_check.check_same_splits(trained, config)


def test_one_schema_gives_the_defaults_the_roles_and_the_docs():
  config = config_base.base_config()
  flat = dict(config_check.flat_items(config))
  names = [k.name for k in config_base.KEYS]
  assert len(names) == len(set(names))
  assert {k for k in flat} == {k for k in flat if any(
      k == n or k.startswith(n + '.') for n in names)}
  assert all(k.role in config_base.ROLES and k.doc for k in config_base.KEYS)
  config_check.validate(config)
  # A checkpoint's saved config decides its model, never how it runs.
  assert 'model.dim' in config_check.SAVED_KEYS
  assert not set(config_check.SAVED_KEYS) & set(config_check.RUNTIME_KEYS)
  assert 'seed' in config_check.RESUME_KEYS
  # The docs' key list is the schema's (regenerate: python -m
  # mtaimkg_jax.config_base > docs/configuration.md's table).
  from conftest import PROJECT  # pylint: disable=g-import-not-at-top
  docs = (PROJECT / 'docs' / 'configuration.md').read_text()
  assert config_base.markdown() in docs


@pytest.mark.parametrize('value', [(), (1.5,), (0.5, 0.5), (True,),
                                   ('1',), (-0.1, 1.0)])
def test_backbone_merges_are_distinct_weights_in_0_1(value):
  config = test_config.get_config()
  config.model.backbone_merges = value
  with pytest.raises(ConfigError, match='model.backbone_merges'):
    config_check.validate(config)

