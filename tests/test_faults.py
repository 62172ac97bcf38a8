"""Faults, each driving real `python -m mtaimkg_jax.main` processes:
SIGKILL then resume, SIGTERM (preemption), a corrupted latest checkpoint, a
non-finite loss, two runs on one workdir, and several processes against
one."""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from conftest import PROJECT

STEPS = 40
EVERY = 10
# Every run shares these: same programs, so the compilation cache serves
# them all, and an uninterrupted run of the same tasks is the reference.
COMMON = (f'--config.train.num_steps={STEPS}',
          f'--config.train.checkpoint_every={EVERY}')
# The faults are of a process, not of a task: one task keeps each process
# short (multi-task resumption is tested in process, in test_train.py). The
# multi-process test keeps configs/test.py's three tasks.
ONE_TASK = "--config.tasks=(('lp', 'lp/synthetic', 1.0),)"


def _command(workdir, *overrides, mode='train', all_tasks=False):
  return [sys.executable, '-m', 'mtaimkg_jax.main', '--config',
          'configs/test.py', '--workdir', str(workdir), f'--mode={mode}',
          *COMMON, *(() if all_tasks else (ONE_TASK,)), *overrides]


def _start(workdir, *overrides, mode='train', all_tasks=False):
  log = open(pathlib.Path(workdir).with_suffix('.log'), 'ab')
  return subprocess.Popen(
      _command(workdir, *overrides, mode=mode, all_tasks=all_tasks),
      cwd=PROJECT, stdout=log, stderr=log)


def _run(workdir, *overrides, mode='train', all_tasks=False, timeout=600,
         check_results=True):
  process = _start(workdir, *overrides, mode=mode, all_tasks=all_tasks)
  assert process.wait(timeout=timeout) == 0, _log(workdir)
  if check_results:
    return json.loads((pathlib.Path(workdir) / 'results.json').read_text())
  return None


def _log(workdir) -> str:
  return pathlib.Path(workdir).with_suffix('.log').read_text(errors='replace')


def _steps(workdir) -> list[int]:
  directory = pathlib.Path(workdir) / 'checkpoints'
  if not directory.exists():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def _wait_for(predicate, process, timeout=300):
  deadline = time.time() + timeout
  while time.time() < deadline:
    if predicate():
      return
    assert process.poll() is None, 'the run ended before the fault'
    time.sleep(0.02)
  raise AssertionError('timed out waiting')


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
  """One uninterrupted single-process run (8 CPU devices): the reference."""
  workdir = tmp_path_factory.mktemp('faults') / 'uninterrupted'
  return workdir, _run(workdir)


@pytest.fixture(scope='module')
def uninterrupted_all_tasks(tmp_path_factory):
  """The same with configs/test.py's three tasks."""
  workdir = tmp_path_factory.mktemp('faults') / 'uninterrupted_all_tasks'
  return workdir, _run(workdir, all_tasks=True)


def test_sigkill_then_rerun_resumes_and_matches(uninterrupted, tmp_path):
  workdir = tmp_path / 'killed'
  process = _start(workdir)
  _wait_for(lambda: bool(_steps(workdir)) and max(_steps(workdir)) >= EVERY,
            process)
  process.send_signal(signal.SIGKILL)
  assert process.wait() == -signal.SIGKILL
  assert not (workdir / 'results.json').exists()
  killed_at = max(_steps(workdir))
  assert EVERY <= killed_at < STEPS
  resumed = _run(workdir)
  assert f'resumed from step {killed_at}' in _log(workdir)
  assert resumed == uninterrupted[1]


def test_sigterm_saves_a_checkpoint_before_exit(uninterrupted, tmp_path):
  workdir = tmp_path / 'preempted'
  process = _start(workdir)
  _wait_for(lambda: 'step 4/' in _log(workdir), process)
  process.send_signal(signal.SIGTERM)
  assert process.wait(timeout=120) == 143, _log(workdir)
  saved = max(_steps(workdir))
  assert f'preempted: saved step {saved}' in _log(workdir)
  assert saved % EVERY  # a forced save, not a periodic one
  assert _run(workdir) == uninterrupted[1]
  assert f'resumed from step {saved}' in _log(workdir)


def test_corrupted_latest_checkpoint_falls_back_to_the_previous(
    uninterrupted, tmp_path):
  workdir = tmp_path / 'corrupted'
  shutil.copytree(uninterrupted[0], workdir)
  steps = _steps(workdir)
  assert steps[-2:] == [STEPS - EVERY, STEPS]
  for path in (workdir / 'checkpoints' / str(STEPS)).rglob('*'):
    if path.is_file():
      path.write_bytes(b'\x00garbage')
  _run(workdir, mode='eval')
  log = _log(workdir)
  assert f'checkpoints/{STEPS} is unreadable' in log
  assert f'at step {STEPS - EVERY}' in log
  # A run that saves here sets the unreadable step aside, then retrains it.
  assert _run(workdir) == uninterrupted[1]
  assert f'moved the unreadable step {STEPS}' in _log(workdir)
  assert (workdir / 'checkpoints.unreadable' / str(STEPS)).is_dir()
  assert _steps(workdir)[-1] == STEPS


def test_a_second_run_on_a_locked_workdir_fails_and_a_stale_lock_is_taken(
    uninterrupted, tmp_path):
  workdir = tmp_path / 'locked'
  first = _start(workdir, '--config.train.num_steps=1000')
  _wait_for(lambda: _steps(workdir), first)
  second = subprocess.run(_command(workdir), cwd=PROJECT, capture_output=True,
                          text=True, timeout=600, check=False)
  assert second.returncode == 2
  assert f'is in use by process {first.pid}' in second.stderr
  first.kill()
  first.wait()
  assert (workdir / '.lock').exists()  # SIGKILL leaves it behind
  _run(workdir, '--config.train.num_steps=1000', '--config.train.stop_at_step'
       f'={_steps(workdir)[-1] + EVERY}', check_results=False)
  assert 'taking over the lock of process' in _log(workdir)
  assert not (workdir / '.lock').exists()


def test_an_unwritable_workdir_is_a_clear_error(tmp_path):
  blocker = tmp_path / 'a_file'
  blocker.write_text('')
  out = subprocess.run(_command(blocker / 'run'), cwd=PROJECT,
                       capture_output=True, text=True, timeout=600,
                       check=False)
  assert out.returncode == 2
  assert f"config.workdir: cannot create '{blocker / 'run'}'" in out.stderr


def test_a_full_disk_stops_training_at_the_failed_save(tmp_path):
  """The save of step EVERY fails with ENOSPC in Orbax's background thread
  (its record file's write patched): the run stops with one line naming the
  path, before the next save, with no traceback, no later checkpoint and
  no results."""
  workdir = tmp_path / 'full'
  program = textwrap.dedent(f"""
      import errno, os, sys
      from absl import app
      from orbax.checkpoint._src.handlers import json_checkpoint_handler as h
      save = h.JsonCheckpointHandler._save_fn
      async def full(self, item, directory):
        if item.get('step') == {EVERY}:
          raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC),
                        str(directory / 'metadata'))
        return await save(self, item, directory)
      h.JsonCheckpointHandler._save_fn = full
      from mtaimkg_jax import main
      sys.argv = ['main', *{_command(workdir)[3:]!r}]
      app.run(main.main)""")
  out = subprocess.run([sys.executable, '-c', program], cwd=PROJECT,
                       capture_output=True, text=True, timeout=600,
                       check=False)
  assert out.returncode == 2, out.stderr[-3000:]
  errors = [line for line in out.stderr.splitlines()
            if line.startswith('error:')]
  assert len(errors) == 1, out.stderr[-3000:]
  assert f'error: cannot save step {EVERY} to {workdir}/checkpoints/' in (
      errors[0])
  assert 'No space left on device; training stopped there' in errors[0]
  assert 'Traceback' not in out.stderr
  assert f'step {2 * EVERY}/' not in out.stderr
  assert _steps(workdir) == [1]
  assert not (workdir / 'results.json').exists()


def test_non_finite_loss_stops_naming_the_step(tmp_path):
  workdir = tmp_path / 'nan'
  process = _start(workdir, '--config.train.learning_rate=1e30',
                   '--config.train.checkpoint_every=1',
                   '--config.train.warmup_steps=0')
  assert process.wait(timeout=600) == 2
  log = _log(workdir)
  assert 'non-finite' in log and 'at step 2 ' in log
  assert 'last good checkpoint is step 1 ' in log
  assert _steps(workdir) == [1]


def _local(workdir, *arguments):
  """launch/local.sh 2, two processes of 2 CPU devices each (the
  single-process reference runs on 8)."""
  launch = subprocess.run(
      ['bash', 'launch/local.sh', '2', '--config', 'configs/test.py',
       '--workdir', str(workdir), *COMMON, *arguments], cwd=PROJECT,
      env={**os.environ, 'DEVICES_PER_PROCESS': '2', 'XLA_FLAGS': '',
           'PYTHON': sys.executable}, capture_output=True, timeout=900)
  assert launch.returncode == 0, launch.stderr.decode()[-3000:]
  return json.loads((pathlib.Path(workdir) / 'results.json').read_text())


def test_two_processes_match_one_and_share_checkpoints(
    uninterrupted_all_tasks, tmp_path):
  """The same run on 2 × 2 devices equals the 1-process run, and each run's
  checkpoint evaluates the same in the other layout."""
  single_dir, single = uninterrupted_all_tasks
  multi_dir = tmp_path / 'multi'
  multi = _local(multi_dir)
  _assert_close(single, multi)
  crossed = _run(tmp_path / 'cross', f'--config.init_workdir={multi_dir}',
                 mode='eval', all_tasks=True)
  _assert_close(crossed, multi)
  back = _local(tmp_path / 'back', '--mode=eval',
                f'--config.init_workdir={single_dir}')
  _assert_close(back, single)


def _assert_close(a, b):
  """Equal structure, names and metrics (breakdowns included), up to float
  noise; the params fingerprint (`ranked_with`) differs with any float
  noise, so only its presence is compared."""
  if isinstance(a, dict):
    assert set(a) == set(b)
    for key in a:
      if key != 'ranked_with':
        _assert_close(a[key], b[key])
  elif isinstance(a, (str, bool)) or a is None:
    assert a == b
  elif isinstance(a, list) and any(isinstance(x, (str, dict, list))
                                   for x in a):
    assert len(a) == len(b)
    for x, y in zip(a, b):
      _assert_close(x, y)
  else:
    np.testing.assert_allclose(a, b, atol=1e-5)