"""checkpoint.py: a run's saved config and the lock that gives a workdir to
one run."""

import errno
import json
import os
import socket

import pytest

from configs import test as test_config
from mtaimkg_jax import checkpoint
from mtaimkg_jax.errors import ConfigError


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
