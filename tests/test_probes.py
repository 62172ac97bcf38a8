"""benchmarks/probes.py: both probes end to end on the synthetic graphs of
configs/test.py."""

import sys

from configs import test as test_config
from conftest import PROJECT
from mtaimkg_jax.data import loading

sys.path.insert(0, str(PROJECT / 'benchmarks'))
import probes  # pylint: disable=g-import-not-at-top,wrong-import-position


def _graph(task):
  config = test_config.get_config()
  graphs = loading.load_graphs(config)
  return next(g for _, g in graphs if g.task == task)


def test_probes_choose_a_weight_on_train_and_report_test():
  for task, run in (('ea', probes.neighbour_names), ('ea', probes.anchors),
                    ('el', probes.surface_ngrams)):
    graph = _graph(task)
    result = run(graph)
    assert result['weight'] in probes.WEIGHTS
    best = max(result['train_hits@1'].values())
    assert result['train_hits@1'][str(result['weight'])] == best
    for key in ('test_baseline', 'test_probe'):
      assert result[key]['count'] == len(graph.queries['test'])
      assert 0 < result[key]['mrr'] <= 1
