"""TensorBoard scalars (tensorboardX, no TensorFlow) and tqdm progress bars.

Both write from process 0 only: in a multi-host run every process computes
the same scalars and walks the same loops, and one copy is enough.
"""

from __future__ import annotations

import sys
from typing import Mapping

import jax
import tqdm


class MetricWriter:
  """Writes scalars to a TensorBoard event file in `logdir`.

  Disabled (`enabled=False`, or not process 0), it creates no file and every
  method is a no-op. Tags are written as given (e.g. `lp/MKG-W/hits@10`),
  not renamed the way `tensorboardX.SummaryWriter` renames tags with `@`.
  """

  def __init__(self, logdir: str, enabled: bool = True):
    self._writer = None
    if enabled and jax.process_index() == 0:
      # Imported here: tensorboardX imports torch when torch is installed,
      # which processes that write nothing should not pay for.
      import tensorboardX  # pylint: disable=g-import-not-at-top
      self._writer = tensorboardX.FileWriter(logdir, flush_secs=30)

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    """One event at `step` holding every `{tag: value}` of `scalars`."""
    if self._writer is None or not scalars:
      return
    from tensorboardX.proto import summary_pb2  # pylint: disable=g-import-not-at-top
    values = [summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
              for tag, value in scalars.items()]
    self._writer.add_summary(summary_pb2.Summary(value=values), int(step))

  def flush(self) -> None:
    if self._writer is not None:
      self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None

  def __enter__(self) -> MetricWriter:
    return self

  def __exit__(self, *exc) -> None:
    self.close()


class _Lines:
  """A log file's view of a bar: each redraw on a line of its own, so log
  records never land on the end of a bar (tqdm redraws with a carriage
  return)."""

  def __init__(self, stream):
    self._stream = stream

  def write(self, text: str) -> None:
    text = text.replace('\r', '')
    if text.strip():
      self._stream.write(text.rstrip('\n') + '\n')

  def flush(self) -> None:
    self._stream.flush()


def progress(total: int, desc: str, unit: str = 'it', initial: int = 0,
             enabled: bool = True) -> tqdm.tqdm:
  """A progress bar with rate and ETA on stderr, shown by process 0 only.

  `initial`: units already done (a resumed run), left out of the rate. On a
  terminal the bar redraws every second; into a log file it writes at most
  every 30 s (plain ASCII), so an hour of ranking adds ~120 updates.
  """
  interactive = sys.stderr.isatty()
  interval = 1.0 if interactive else 30.0
  return tqdm.tqdm(
      total=total, desc=desc, unit=unit, initial=initial,
      file=sys.stderr if interactive else _Lines(sys.stderr),
      mininterval=interval, maxinterval=max(interval, 10.0),
      dynamic_ncols=interactive, ascii=not interactive,
      disable=not enabled or jax.process_index() != 0)
