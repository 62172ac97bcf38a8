"""A run's files: Orbax checkpoints, the run's config, preemption.

Checkpoints live in `<workdir>/checkpoints/<step>/`: the train state
(params, optimizer state, step) and a JSON record (step, seed, data
position). The data pipeline is a pure function of (seed, step), so
restoring the step restores the iterator and the RNG exactly. Saves are
asynchronous; N are kept; a save is forced on preemption (SIGTERM, see
`Preemption`) and at `stop_at_step`. An unreadable latest checkpoint falls
back to the previous one with a warning.

`<workdir>/config.json` is the full resolved config of the run that made
the checkpoints, so evaluation, prediction and transfer rebuild the same
model without retyping its settings.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from typing import Any

import flax
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from mtaimkg_jax.config_base import base_config
from mtaimkg_jax.errors import ConfigError, TrainingError

CONFIG_FILE = 'config.json'
LOCK_FILE = '.lock'


def directory_of(workdir: str) -> str:
  """Where `workdir`'s checkpoints live."""
  return os.path.abspath(os.path.join(workdir, 'checkpoints'))


def has_saved_step(workdir: str) -> bool:
  """Whether `workdir` holds a finished step directory; read-only, unlike
  `Checkpoints`, which creates the directory."""
  directory = directory_of(workdir)
  return os.path.isdir(directory) and any(
      name.isdigit() for name in os.listdir(directory))


class Checkpoints:
  """A thin owner of one `ocp.CheckpointManager`."""

  def __init__(self, workdir: str, save_every: int, keep: int,
               async_save: bool = True):
    self.directory = directory_of(workdir)
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=max(1, save_every), max_to_keep=max(1, keep),
        enable_async_checkpointing=async_save, create=True)
    self._manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'record': ocp.JsonCheckpointHandler()})

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: Any, record: dict, force: bool = False
           ) -> bool:
    """Saves when the interval says so, or always with `force` (then after
    any save still in flight: Orbax skips a save while one is running)."""
    if force:
      self._manager.wait_until_finished()
    return self._manager.save(
        step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                      record=ocp.args.JsonSave(record)),
        force=force)

  def restore(self, abstract_state: Any, set_aside: bool = False
              ) -> tuple[Any, dict] | None:
    """The newest readable checkpoint as (state, record), or None. With
    `set_aside` (a run that will save here), unreadable steps newer than it
    are moved to `checkpoints.unreadable/`, so none of them stays the
    "latest" a later run would try first."""
    unreadable = []
    for step in reversed(self.all_steps()):
      try:
        restored = self._manager.restore(
            step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state),
                record=ocp.args.JsonRestore()))
      except Exception as e:  # pylint: disable=broad-except
        logging.warning('checkpoint %s/%d is unreadable (%s: %s); trying the '
                        'previous one', self.directory, step,
                        type(e).__name__, str(e)[:300])
        unreadable.append(step)
        continue
      if set_aside and unreadable:
        self._set_aside(unreadable)
      return restored['state'], dict(restored['record'])
    return None

  def _set_aside(self, steps: list[int]) -> None:
    aside = f'{self.directory}.unreadable'
    if jax.process_index() == 0:
      os.makedirs(aside, exist_ok=True)
      for step in steps:
        target = os.path.join(aside, str(step))
        if os.path.exists(target):
          target = f'{target}.{int(time.time())}'
        os.replace(os.path.join(self.directory, str(step)), target)
        logging.warning('moved the unreadable step %d to %s', step, target)
    self._manager.reload()

  def param_shapes(self, step: int) -> dict[str, tuple[int, ...]] | None:
    """{'a/b/kernel': shape} of the parameters saved at `step`, read from
    its metadata alone (None when that cannot be read)."""
    try:
      tree = self._manager.item_metadata(step)['state'].tree['params']
    except Exception:  # pylint: disable=broad-except
      return None
    return {'/'.join(path): tuple(leaf.shape)
            for path, leaf in flax.traverse_util.flatten_dict(tree).items()}

  def latest_params(self) -> Any | None:
    """The newest checkpoint's params as host arrays, read without a
    template (analysis; training and evaluation restore the whole state)."""
    step = self.latest_step()
    if step is None:
      return None
    state = ocp.StandardCheckpointer().restore(
        os.path.join(self.directory, str(step), 'state'))
    return state['params']

  def confirm_saved(self, step: int) -> None:
    """Waits for saves in flight, then raises unless `step` is on disk
    (read afresh, not from the manager's cache): a log line saying a step
    was saved is only written after this."""
    self._manager.wait_until_finished()
    self._manager.reload()
    on_disk = sorted(self._manager.all_steps())
    if step not in on_disk:
      raise TrainingError(
          f'the save of step {step} did not reach {self.directory} (steps on '
          f'disk: {on_disk}); a rerun resumes from the newest of those')

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def save_params(path: str, params: Any) -> None:
  """Saves a params pytree on its own (e.g. converted ULTRA weights)."""
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(os.path.abspath(path), params, force=True)
  checkpointer.wait_until_finished()


def load_params(path: str) -> Any:
  """Loads a params pytree saved by `save_params` (host numpy leaves)."""
  checkpointer = ocp.StandardCheckpointer()
  params = checkpointer.restore(os.path.abspath(path))
  return jax.tree_util.tree_map(lambda x: jax.device_get(x), params)


def shapes_of(params: Any) -> dict[str, tuple[int, ...]]:
  """{'a/b/kernel': shape} of a params pytree (as `param_shapes`)."""
  return {'/'.join(path): tuple(np.shape(leaf)) for path, leaf in
          flax.traverse_util.flatten_dict(jax.device_get(params)).items()}


def write_json(path: str, content: Any) -> None:
  """Writes a JSON file of the run atomically (keys sorted, indented), so a
  killed process never leaves half of one."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    json.dump(content, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)


def read_json(path: str) -> dict:
  """A JSON object file of the run, {} when there is none yet."""
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Writes `<workdir>/config.json` atomically: the run's whole config."""
  path = os.path.join(workdir, CONFIG_FILE)
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))
    f.write('\n')
  os.replace(tmp, path)


def _tuples(value: Any) -> Any:
  """JSON lists back to the tuples configs are written with."""
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value


def read_config(workdir: str) -> ml_collections.ConfigDict | None:
  """The config a run saved in `workdir`, or None if it saved none. Keys
  added to the schema after the run take their default, which is the
  behaviour of the code that ran it (a new key defaults to the old
  behaviour), so the run still resumes and evaluates as it trained."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    saved = _renamed(_tuples(json.load(f)))
  return ml_collections.ConfigDict(
      _with_defaults(saved, base_config().to_dict()))


# Keys a saved config may hold under an earlier name: (section, old) →
# new, read as the new key (same meaning, same value).
RENAMED_KEYS = {('model', 'text_prior'): 'names_prior'}


def _renamed(saved: dict) -> dict:
  out = dict(saved)
  for (section, old), new in RENAMED_KEYS.items():
    if isinstance(out.get(section), dict) and old in out[section]:
      out[section] = dict(out[section])
      out[section][new] = out[section].pop(old)
  return out


def _with_defaults(saved: dict, defaults: dict) -> dict:
  """`saved` with the keys only `defaults` has, section by section."""
  out = dict(saved)
  for key, value in defaults.items():
    if key not in out:
      out[key] = value
    elif isinstance(value, dict) and isinstance(out[key], dict):
      out[key] = _with_defaults(out[key], value)
  return out


class Preemption:
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
    logging.warning('SIGTERM: saving after this step')
    self.requested = True

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


class WorkdirLock:
  """`<workdir>/.lock` (pid and host) held for a run's life: a second run
  on the same workdir fails with a `ConfigError` instead of interleaving
  its checkpoints; a lock whose process is gone (same host) is taken over.
  A workdir that cannot be created or written is a `ConfigError` naming
  it. Only process 0 of a multi-host run takes it."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    self.workdir = workdir
    self._held = False

  def __enter__(self) -> WorkdirLock:
    try:
      os.makedirs(self.workdir, exist_ok=True)
    except OSError as e:
      raise ConfigError('workdir', f'cannot create {self.workdir!r}: '
                        f'{e.strerror}') from None
    if jax.process_index() == 0:
      self._take()
    return self

  def _take(self) -> None:
    mine = f'{os.getpid()} {socket.gethostname()}\n'
    for _ in range(2):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
      except FileExistsError:
        self._break_if_stale()
        continue
      except OSError as e:
        raise ConfigError('workdir', f'cannot write in {self.workdir!r}: '
                          f'{e.strerror}') from None
      with os.fdopen(fd, 'w') as f:
        f.write(mine)
      self._held = True
      return
    raise ConfigError('workdir', f'{self.workdir!r}: could not take '
                      f'{self.path}')

  def _break_if_stale(self) -> None:
    try:
      with open(self.path) as f:
        pid, host = f.read().split()
      pid = int(pid)
    except (OSError, ValueError):
      pid, host = -1, socket.gethostname()  # unreadable: a torn write
    if host != socket.gethostname() or _alive(pid):
      raise ConfigError('workdir', f'{self.workdir!r} is in use by process '
                        f'{pid} on {host} ({self.path}); use another '
                        '--workdir, or delete the lock if that run is gone')
    logging.warning('taking over the lock of process %d, which is gone (%s)',
                    pid, self.path)
    os.remove(self.path)

  def __exit__(self, *exc) -> None:
    if self._held:
      self._held = False
      try:
        os.remove(self.path)
      except FileNotFoundError:
        pass


def _alive(pid: int) -> bool:
  if pid <= 0:
    return False
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True
