"""Orbax checkpoints in `<workdir>/checkpoints/<step>/`.

Each checkpoint holds the train state (params, optimizer state, step) and a
JSON record (step, seed, data position). The data pipeline is a pure
function of (seed, step), so restoring the step restores the iterator and
the RNG exactly. Saves are asynchronous; N are kept; a save is forced on
preemption and at `stop_at_step`. An unreadable latest checkpoint falls back
to the previous one with a warning.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import jax
import orbax.checkpoint as ocp

from mtaimkg_jax.errors import TrainingError


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
    self._manager = ocp.CheckpointManager(self.directory, options=options)

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

  def restore(self, abstract_state: Any) -> tuple[Any, dict] | None:
    """The newest readable checkpoint as (state, record), or None."""
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
        continue
      return restored['state'], dict(restored['record'])
    return None

  def latest_params(self) -> Any | None:
    """The newest checkpoint's params as host arrays, read without a
    template (analysis; training and evaluation restore the whole state)."""
    step = self.latest_step()
    if step is None:
      return None
    state = ocp.StandardCheckpointer().restore(
        os.path.join(self.directory, str(step), 'state'))
    return state['params']

  def reached_preemption(self, step: int) -> bool:
    return self._manager.reached_preemption(step)

  def confirm_saved(self, step: int) -> None:
    """Waits for saves in flight, then raises unless `step` is on disk
    (read afresh, not from the manager's cache): a log line saying a step
    was saved is only written after this."""
    self._manager.wait_until_finished()
    on_disk = sorted(self._manager.all_steps(read=True))
    if step not in on_disk:
      raise TrainingError(
          f'the save of step {step} did not reach {self.directory} (steps on '
          f'disk: {on_disk}); a rerun resumes from the newest of those')

  def wait(self) -> None:
    self._manager.wait_until_finished()

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
