"""checkpoint.py: a run's saved config, the lock that gives a workdir to
one run, and the fingerprints that catch a checkpoint changed on disk."""

import errno
import json
import os
import shutil
import socket

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from configs import test as test_config
from mtaimkg_jax import api, checkpoint, train
from mtaimkg_jax.errors import ConfigError, DataError
from mtaimkg_jax.experiment import Experiment, check_resumable, resolve_init


def test_config_round_trips_with_its_tuples(tmp_path):
  config = test_config.get_config()
  config.features.views = ('neighbours', 'surface')
  checkpoint.write_config(str(tmp_path), config)
  assert checkpoint.read_config(str(tmp_path)) == config
  assert checkpoint.read_config(str(tmp_path / 'none')) is None


def test_a_key_newer_than_the_run_reads_as_its_default(tmp_path):
  """A run saved before `model.num_references` existed ran uncentred: it
  reads as 0, whatever a preset now sets, so it resumes and evaluates as
  it trained; its own keys are kept."""
  config = test_config.get_config()
  config.model.num_experts = 2
  saved = config.to_dict()
  del saved['model']['num_references']
  (tmp_path / checkpoint.CONFIG_FILE).write_text(json.dumps(saved))
  config.model.num_references = 1
  read = checkpoint.read_config(str(tmp_path))
  assert read.model.num_references == 0
  assert read.model.num_experts == 2
  config.model.num_references = 0
  assert read == config


def test_json_is_written_whole(tmp_path):
  path = tmp_path / 'out' / 'results.json'
  checkpoint.write_json(str(path), {'lp/g': {'mrr': 0.5, 'count': 2}})
  assert json.loads(path.read_text()) == {'lp/g': {'mrr': 0.5, 'count': 2}}
  assert not list(tmp_path.glob('out/*.tmp'))


def test_a_held_lock_refuses_a_second_run_and_is_released(tmp_path):
  workdir = str(tmp_path / 'run')
  with checkpoint.WorkdirLock(workdir):
    held = (tmp_path / 'run' / '.lock').read_text().split()
    assert held == [str(os.getpid()), socket.gethostname()]
    with pytest.raises(ConfigError, match=f'in use by process {os.getpid()}'):
      with checkpoint.WorkdirLock(workdir):
        pass
  assert not (tmp_path / 'run' / '.lock').exists()
  with checkpoint.WorkdirLock(workdir):
    pass


def test_a_dead_processs_lock_is_taken_over(tmp_path, caplog):
  lock = tmp_path / '.lock'
  lock.write_text(f'{2**22 + 12345} {socket.gethostname()}\n')
  with checkpoint.WorkdirLock(str(tmp_path)):
    assert lock.read_text().split()[0] == str(os.getpid())
  assert 'taking over the lock' in caplog.text


def test_another_hosts_lock_is_not_taken(tmp_path):
  (tmp_path / '.lock').write_text('1 some-other-host\n')
  with pytest.raises(ConfigError, match='process 1 on some-other-host'):
    with checkpoint.WorkdirLock(str(tmp_path)):
      pass


@pytest.mark.parametrize('code', [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_is_a_clear_error(tmp_path, monkeypatch,
                                                   code):
  def refuse(*_):
    raise OSError(code, os.strerror(code))

  monkeypatch.setattr(os, 'open', refuse)
  with pytest.raises(ConfigError, match=f'cannot write in .*'
                     f'{os.strerror(code)}'):
    with checkpoint.WorkdirLock(str(tmp_path)):
      pass


@pytest.mark.parametrize('content', ['', '{"model": {"dim": 8', 'not json',
                                     '[1, 2]', '{"seed": 0}', '\xff\xfe'])
def test_a_damaged_config_json_is_a_data_error_naming_it(tmp_path, content):
  """Empty, cut short, not JSON, not a run's config: every reader of a
  workdir's config.json (eval, predict, resume, transfer, the API) stops
  with one line naming the file."""
  path = tmp_path / checkpoint.CONFIG_FILE
  path.write_bytes(content.encode('latin-1'))
  for read in (checkpoint.read_config, api.Predictor.from_workdir,
               lambda w: check_resumable(test_config.get_config(), w)):
    with pytest.raises(DataError, match='damaged') as error:
      read(str(tmp_path))
    assert error.value.path == str(path)


def _small_run_config():
  """configs/test.py on one task with 128-wide layers: arrays OCDBT stores
  outside its checksummed index (smaller ones sit inside it, where a
  flipped byte is already an Orbax read error)."""
  config = test_config.get_config()
  config.tasks = (('lp', 'lp/synthetic', 1.0),)
  config.model.dim = config.model.expert_hidden = 128
  config.train.num_steps = 8
  config.train.checkpoint_every = 2
  config.train.stop_at_step = 4  # steps 1, 2 and 4 saved; no evaluation
  return config


@pytest.fixture(scope='module')
def saved_run(tmp_path_factory):
  config = _small_run_config()
  workdir = tmp_path_factory.mktemp('fingerprints') / 'run'
  train.train_and_evaluate(config, str(workdir))
  experiment = Experiment(config)
  prepared = experiment.prepare(experiment.train_specs[0])
  abstract = experiment.state(experiment.init_params(prepared,
                                                     imported=False))
  return workdir, abstract


def _copy(saved_run, tmp_path):
  workdir = tmp_path / 'copy'
  shutil.copytree(saved_run[0], workdir)
  return workdir


def _restore(workdir, abstract):
  ckpts = checkpoint.Checkpoints(str(workdir), 1, 1000)
  try:
    return ckpts.restore(abstract)
  finally:
    ckpts.close()


def test_every_saved_step_has_its_fingerprints(saved_run):
  workdir, abstract = saved_run
  steps = workdir / 'checkpoints'
  assert sorted(int(p.name) for p in steps.iterdir()) == [1, 2, 4]
  for step in (1, 2, 4):
    saved = json.loads((steps / str(step) / 'fingerprint.json').read_text())
    assert any(k.startswith('opt_state/') for k in saved['arrays'])
  state, record = _restore(workdir, abstract)
  assert record['restored_step'] == 4 and 'fell_back_from' not in record
  assert saved['params_fingerprint'] == checkpoint.records.params_fingerprint(
      state.params)


def test_a_flipped_byte_in_an_array_file_is_detected(saved_run, tmp_path,
                                                     caplog):
  """One byte of the step's largest array file flipped where Orbax reads
  it back without a word (its chunks are compressed, not checksummed):
  the fingerprints refuse the step, the previous one is restored, and
  evaluation's account of its parameters says so."""
  workdir = _copy(saved_run, tmp_path)
  abstract = saved_run[1]
  data = max((workdir / 'checkpoints' / '4' / 'state').rglob('d/*'),
             key=lambda p: p.stat().st_size)
  original = data.read_bytes()
  reference = ocp.StandardCheckpointer().restore(data.parents[2], abstract)
  for share in (0.5, 0.3, 0.7, 0.4, 0.6):
    flipped = bytearray(original)
    flipped[int(share * len(original))] ^= 1
    data.write_bytes(bytes(flipped))
    try:
      read = ocp.StandardCheckpointer().restore(data.parents[2], abstract)
    except Exception:  # pylint: disable=broad-except
      continue  # caught by the storage's own checks: try another byte
    if not all(np.array_equal(a, b) for a, b in zip(
        jax.tree_util.tree_leaves(read), jax.tree_util.tree_leaves(reference))):
      break
  else:
    pytest.fail('no flipped byte went unnoticed by Orbax')
  _, record = _restore(workdir, abstract)
  assert (record['restored_step'], record['fell_back_from']) == (2, 4)
  assert f'checkpoints/4 is unreadable (DataError: {data.parents[2]}: ' \
         'array ' in caplog.text
  assert 'checkpoints/4/fingerprint.json' in caplog.text
  experiment = Experiment(_small_run_config())
  experiment.params_of(resolve_init(experiment.config, str(workdir)))
  assert experiment.source['step'] == 2
  assert experiment.source['fell_back_from'] == 4


def test_no_step_matching_its_fingerprints_is_a_config_error(saved_run,
                                                             tmp_path):
  workdir = _copy(saved_run, tmp_path)
  for path in (workdir / 'checkpoints').glob('*/fingerprint.json'):
    saved = json.loads(path.read_text())
    saved['arrays'][sorted(saved['arrays'])[0]] = '0' * 64
    path.write_text(json.dumps(saved))
  with pytest.raises(ConfigError, match='config.workdir: no step of .* is '
                     r'readable; .*/checkpoints/4/state: array .* does not '
                     'match its sha256 in .*/4/fingerprint.json'):
    _restore(workdir, saved_run[1])


def test_a_step_without_fingerprints_restores_unverified_until_written(
    saved_run, tmp_path, caplog):
  """A checkpoint saved before fingerprints existed (the shipped one)
  restores as it did, with a note; `write_fingerprints` adds them, the
  same the run would have written for its parameters."""
  workdir = _copy(saved_run, tmp_path)
  path = workdir / 'checkpoints' / '4' / 'fingerprint.json'
  at_save = json.loads(path.read_text())
  path.unlink()
  _, record = _restore(workdir, saved_run[1])
  assert record['restored_step'] == 4
  assert 'has no fingerprint.json: its arrays cannot be verified' in caplog.text
  ckpts = checkpoint.Checkpoints(str(workdir), 1, 1000)
  try:
    params = ckpts.latest_params()
  finally:
    ckpts.close()
  assert checkpoint.write_fingerprints(str(path.parent), params) == str(path)
  written = json.loads(path.read_text())
  assert written['params_fingerprint'] == at_save['params_fingerprint']
  assert written['arrays'] == {k: v for k, v in at_save['arrays'].items()
                               if k.startswith('params/')}
  caplog.clear()
  assert _restore(workdir, saved_run[1])[1]['restored_step'] == 4
  assert 'fingerprint' not in caplog.text
