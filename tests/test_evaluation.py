"""evaluation.py: progress logs of a long ranking run."""

import logging

from absl import logging as absl_logging

from configs import test as test_config
from mtaimkg_jax import evaluation
from mtaimkg_jax.data import loading


def test_progress_logs_counts_rate_and_total(caplog):
  (_, graph), = loading.load_graphs(test_config.get_config())[:1]
  total = len(graph.queries['test'])
  absl_logging.get_absl_logger().propagate = True
  with caplog.at_level(logging.INFO):
    progress = evaluation.Progress(graph, 'test', every=0.0)
    progress.update(1)
    progress.update(total - 1)
    progress.finish()
  messages = [r.getMessage() for r in caplog.records]
  assert any(f'1/{total} queries ranked' in m and 'ETA' in m
             for m in messages), messages
  assert not any(f'{total}/{total}' in m for m in messages)
  assert any(f'{graph.key}/test: {total} queries ranked in' in m
             for m in messages)
