"""Shared test set-up: 8 fake CPU devices, paths to ../shared data."""

import os
import pathlib
import tempfile

# Must precede every jax import: sharded code is tested on 8 CPU devices.
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# Many tests compile the same tiny programs (in process and in the
# subprocesses they start): a session-wide persistent compilation cache
# turns a ~45 s run of configs/test.py into ~15 s.
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:  # xdist workers inherit it
  os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(
      prefix='mtaimkg_jax_cache_')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')

import pytest  # pylint: disable=g-import-not-at-top

PROJECT = pathlib.Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / 'shared'


def _shared(path: pathlib.Path) -> pathlib.Path:
  if not path.exists():
    if os.environ.get('CI'):
      pytest.fail(f'{path} is missing: CI runs with ../shared beside the clone')
    pytest.skip(f'{path} not present')
  return path


@pytest.fixture(scope='session')
def data_root() -> str:
  return str(_shared(SHARED / 'data'))


@pytest.fixture(scope='session')
def ultra_checkpoint_dir() -> pathlib.Path:
  return _shared(SHARED / 'checkpoints' / 'ultra')


@pytest.fixture(autouse=True)
def _feature_cache(tmp_path_factory, monkeypatch):
  """Text features are cached per test session, never in the user's home."""
  cache = tmp_path_factory.getbasetemp() / 'feature_cache'
  monkeypatch.setenv('MTAIMKG_CACHE', str(cache))


def ea_el_run_config():
  """A tiny EA + EL run with both EA views, one-to-one matching and the
  learned-term scale calibrated (shared by calibration and decompose
  tests)."""
  from configs import test as test_config  # pylint: disable=g-import-not-at-top
  config = test_config.get_config()
  config.tasks = (('ea', 'ea/synthetic', 1.0), ('el', 'el/synthetic', 1.0))
  config.features.views = ('neighbours', 'anchors')
  config.eval.sinkhorn_temperature = 1.0
  config.eval.calibrate_learned_scale = True
  config.train.num_steps = 8
  return config


@pytest.fixture(scope='session')
def ea_el_run(tmp_path_factory):
  """(config, workdir, results) of `ea_el_run_config` trained and evaluated."""
  from mtaimkg_jax import train  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp('ea_el_run'))
  config = ea_el_run_config()
  return config, workdir, train.train_and_evaluate(config, workdir)
