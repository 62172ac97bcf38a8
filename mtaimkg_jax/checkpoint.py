"""A run's files: Orbax checkpoints, the run's config, preemption.

Checkpoints live in `<workdir>/checkpoints/<step>/`: the train state
(params, optimizer state, step) and a JSON record (step, seed, data
position). The data pipeline is a pure function of (seed, step), so
restoring the step restores the iterator and the RNG exactly. Saves are
asynchronous; N are kept; a save is forced on preemption (SIGTERM, see
`Preemption`) and at `stop_at_step`. A save that fails (a full disk) stops
training with a `TrainingError` naming the path at the first step after it
is known. Once a save is on disk, `<step>/fingerprint.json` records the
sha256 of every array it holds and the parameters' fingerprint; a restore
checks them. An unreadable step, or one whose arrays differ from their
fingerprints, falls back to the previous one with a warning.

`<workdir>/config.json` is the full resolved config of the run that made
the checkpoints, so evaluation, prediction and transfer rebuild the same
model without retyping its settings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

import flax
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from mtaimkg_jax import records
from mtaimkg_jax.config_base import base_config
from mtaimkg_jax.errors import ConfigError, DataError, TrainingError

CONFIG_FILE = 'config.json'
LOCK_FILE = '.lock'
FINGERPRINT_FILE = 'fingerprint.json'


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
  """A thin owner of one `ocp.CheckpointManager`. `key`: the config key
  that named its workdir, for errors."""

  def __init__(self, workdir: str, save_every: int, keep: int,
               async_save: bool = True, key: str = 'workdir'):
    self.directory = directory_of(workdir)
    self.key = key
    options = ocp.CheckpointManagerOptions(
        save_interval_steps=max(1, save_every), max_to_keep=max(1, keep),
        enable_async_checkpointing=async_save, create=True)
    self._manager = ocp.CheckpointManager(
        self.directory, options=options,
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'record': ocp.JsonCheckpointHandler()})
    # (step, its fingerprints) of the save in flight, until it is settled.
    self._pending: tuple[int, dict | None] | None = None

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: Any, record: dict, force: bool = False
           ) -> bool:
    """Saves when the interval says so, or always with `force` (then after
    any save still in flight: Orbax skips a save while one is running).
    The previous save is settled first (`_settle`), and, in a single
    process, as soon as it has finished: a failed one stops the run."""
    due = force or self._manager.should_save(step)
    if self._pending is not None and (
        due or (jax.process_count() == 1 and
                not self._manager.is_saving_in_progress())):
      self._settle()
    if not due:
      return False
    # Hashed now: the train step donates these buffers.
    content = (_fingerprints(getattr(state, 'params', None), state)
               if jax.process_index() == 0 else None)
    try:
      saved = self._manager.save(
          step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                        record=ocp.args.JsonSave(record)),
          force=force)
    except Exception as e:  # pylint: disable=broad-except
      raise self._failed(step, e) from None
    if saved:
      self._pending = (step, content)
    return saved

  def _settle(self) -> None:
    """Waits for the save in flight; raises `TrainingError` naming its path
    unless it reached the disk, where its fingerprint.json is then
    written."""
    step, content = self._pending
    self._pending = None
    try:
      self._manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      raise self._failed(step, e) from None
    self._manager.reload()
    if step not in self._manager.all_steps():
      raise self._failed(step, None)
    if content is not None:
      try:
        write_json(os.path.join(self.directory, str(step), FINGERPRINT_FILE),
                   content)
      except OSError as e:
        raise self._failed(step, e) from None

  def _failed(self, step: int, error: Exception | None) -> TrainingError:
    """The error of a save that did not reach the disk, raised once the
    manager and its background writes have stopped."""
    path = os.path.join(self.directory, str(step))
    if isinstance(error, OSError) and error.strerror:
      path, why = error.filename or path, error.strerror
    else:
      why = f'{type(error).__name__}: {str(error)[:300]}' if error else (
          'it is not on disk')
    try:
      self._manager.close()
    except Exception:  # pylint: disable=broad-except
      pass
    # The save's other background writes still run: cut short by the exit
    # they would print tracebacks of their own.
    deadline = time.time() + 30
    for thread in threading.enumerate():
      if type(thread).__module__.startswith('orbax.'):
        thread.join(max(0.0, deadline - time.time()))
    steps = sorted(int(n) for n in os.listdir(self.directory) if n.isdigit())
    return TrainingError(
        f'cannot save step {step} to {path}: {why}; training stopped there '
        f'(steps on disk: {steps}); a rerun resumes from the newest of those')

  def restore(self, abstract_state: Any, set_aside: bool = False
              ) -> tuple[Any, dict] | None:
    """The newest readable checkpoint as (state, record), or None; the
    record says which step was restored (`restored_step`) and, when newer
    ones were unreadable, the newest of those (`fell_back_from`). A step
    whose arrays differ from its fingerprint.json is unreadable; when no
    step is readable and one was refused so, a `ConfigError` names its
    file.
    With `set_aside` (a run that will save here), unreadable steps newer
    than the restored one are moved to `checkpoints.unreadable/`, so none
    of them stays the "latest" a later run would try first."""
    unreadable, damaged = [], []
    for step in reversed(self.all_steps()):
      try:
        restored = self._manager.restore(
            step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state),
                record=ocp.args.JsonRestore()))
        self._verify(step, restored['state'])
      except Exception as e:  # pylint: disable=broad-except
        # Our own errors name their files in full; a library's may be long.
        reason = str(e) if isinstance(e, DataError) else str(e)[:300]
        logging.warning('checkpoint %s/%d is unreadable (%s: %s); trying the '
                        'previous one', self.directory, step,
                        type(e).__name__, reason)
        unreadable.append(step)
        if isinstance(e, DataError):
          damaged.append(e)
        continue
      if set_aside and unreadable:
        self._set_aside(unreadable)
      record = dict(restored['record'], restored_step=step)
      if unreadable:
        record['fell_back_from'] = unreadable[0]
      return restored['state'], record
    if damaged:
      raise ConfigError(self.key, f'no step of {self.directory} is readable; '
                        f'{damaged[0]}')
    return None

  def _verify(self, step: int, state: Any) -> None:
    """Raises `DataError` naming the file when an array of the restored
    `state` differs from its sha256 in the step's fingerprint.json (a step
    without one, saved before it existed, is restored unverified)."""
    path = os.path.join(self.directory, str(step), FINGERPRINT_FILE)
    if not os.path.exists(path):
      logging.warning('checkpoint %s/%d has no %s: its arrays cannot be '
                      'verified (checkpoint.write_fingerprints adds one)',
                      self.directory, step, FINGERPRINT_FILE)
      return
    try:
      with open(path) as f:
        saved = json.load(f)
      expected, overall = saved['arrays'], saved['params_fingerprint']
    except (OSError, ValueError, KeyError, TypeError) as e:
      raise DataError(path, f'unreadable ({type(e).__name__}: {e})') from None
    found = _array_digests(state)
    for name, digest in expected.items():
      if found.get(name) != digest:
        raise DataError(os.path.join(os.path.dirname(path), 'state'),
                        f'array {name} does not match its sha256 in {path}: '
                        'the checkpoint changed on disk after it was saved')
    if overall is not None and records.params_fingerprint(
        state.params) != overall:
      raise DataError(path, 'the parameters do not match their fingerprint')

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
    if self._pending is not None:
      self._settle()
    self._manager.wait_until_finished()
    self._manager.reload()
    on_disk = sorted(self._manager.all_steps())
    if step not in on_disk:
      raise TrainingError(
          f'the save of step {step} did not reach {self.directory} (steps on '
          f'disk: {on_disk}); a rerun resumes from the newest of those')

  def close(self) -> None:
    if self._pending is not None:
      self._settle()
    self._manager.wait_until_finished()
    self._manager.close()


def host_array(leaf: Any) -> np.ndarray:
  """A leaf as host numpy (a replicated array: this process's copy)."""
  if isinstance(leaf, jax.Array):  # replicated: any local copy
    leaf = leaf.addressable_data(0)
  return np.ascontiguousarray(np.asarray(leaf))


def _array_digests(tree: Any) -> dict[str, str]:
  """{'params/a/kernel': sha256 of its bytes} of every array of `tree` (a
  train state, or {'params': params})."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    name = '/'.join(str(getattr(k, 'key', getattr(k, 'name', getattr(
        k, 'idx', k)))) for k in path)
    out[name] = hashlib.sha256(host_array(leaf).tobytes()).hexdigest()
  return out


def _fingerprints(params: Any, state: Any = None) -> dict[str, Any]:
  """fingerprint.json: each array of `state` (default {'params': params})
  and the parameters' own fingerprint (None for a state without any)."""
  return {'params_fingerprint': (records.params_fingerprint(params)
                                 if params is not None else None),
          'arrays': _array_digests(state if state is not None
                                   else {'params': params})}


def write_fingerprints(step_dir: str, params: Any) -> str:
  """Writes `<step_dir>/fingerprint.json` for a step saved without one
  (e.g. `Checkpoints.latest_params()` of an older run): the sha256 of each
  parameter array and the parameters' fingerprint, which later restores
  check. Returns its path."""
  path = os.path.join(step_dir, FINGERPRINT_FILE)
  write_json(path, _fingerprints(jax.device_get(params)))
  return path


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
  behaviour), so the run still resumes and evaluates as it trained. A
  damaged file (empty, cut short, not a JSON object) is a `DataError`
  naming it."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path, encoding='utf-8') as f:
      saved = json.load(f)
  except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
    raise DataError(path, f'damaged, not the JSON config a run saved '
                    f'({type(e).__name__}: {str(e)[:200]})') from None
  if not isinstance(saved, dict) or not all(
      isinstance(saved.get(k), dict) for k in ('model', 'features')):
    raise DataError(path, 'damaged: not the JSON object of a run\'s config '
                    '(no model and features sections)')
  return ml_collections.ConfigDict(
      _with_defaults(_renamed(_tuples(saved)), base_config().to_dict()))


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
