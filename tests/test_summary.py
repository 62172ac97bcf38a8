"""TensorBoard scalars are read back by TensorBoard's own reader; disabled
writers write nothing; progress bars count, time and can be switched off."""

import io

import pytest
from tensorboard.backend.event_processing import event_accumulator

from mtaimkg_jax import summary


def _scalars(logdir) -> dict[str, list[tuple[int, float]]]:
  accumulator = event_accumulator.EventAccumulator(str(logdir))
  accumulator.Reload()
  return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
          for tag in accumulator.Tags()['scalars']}


def test_scalars_read_back_by_tensorboard(tmp_path):
  writer = summary.MetricWriter(str(tmp_path / 'tb'))
  writer.write_scalars(1, {'lp/synthetic/loss': 0.5, 'learning_rate': 1e-3})
  writer.write_scalars(2, {'lp/synthetic/loss': 0.25, 'steps_per_sec': 7})
  writer.write_scalars(3, {})
  writer.flush()
  writer.write_scalars(10, {'lp/synthetic/test/mrr': 0.75,
                            'lp/synthetic/test/hits@10': 1.0})
  writer.close()
  writer.close()  # closing twice is harmless
  scalars = _scalars(tmp_path / 'tb')
  assert scalars.keys() == {'lp/synthetic/loss', 'learning_rate',
                            'steps_per_sec', 'lp/synthetic/test/mrr',
                            'lp/synthetic/test/hits@10'}
  assert scalars['lp/synthetic/loss'] == [(1, 0.5), (2, 0.25)]
  assert scalars['learning_rate'] == [(1, pytest.approx(1e-3))]
  assert scalars['steps_per_sec'] == [(2, 7.0)]
  assert scalars['lp/synthetic/test/hits@10'] == [(10, 1.0)]


def test_disabled_writer_writes_nothing(tmp_path):
  with summary.MetricWriter(str(tmp_path / 'tb'), enabled=False) as writer:
    writer.write_scalars(1, {'loss': 1.0})
    writer.flush()
  assert not (tmp_path / 'tb').exists()


def test_progress_counts_with_rate_and_eta(monkeypatch):
  stream = io.StringIO()
  monkeypatch.setattr('sys.stderr', stream)
  with summary.progress(10, 'ranking', unit='query', initial=4) as bar:
    bar.update(6)
    assert bar.n == 10
    shown = str(bar)
  assert shown.startswith('ranking: 100%') and '10/10' in shown
  assert 'query/s' in shown and '<00:00' in shown  # rate and ETA
  assert 'ranking' in stream.getvalue()
  assert 'query/s' in stream.getvalue()  # the final line has the rate


def test_disabled_progress_prints_nothing(monkeypatch):
  stream = io.StringIO()
  monkeypatch.setattr('sys.stderr', stream)
  with summary.progress(3, 'encoding', enabled=False) as bar:
    bar.update(3)
  assert not stream.getvalue()
