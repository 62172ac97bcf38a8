"""eval/self_training.py: pseudo-seeds from mutual best pairs, fed back."""

import numpy as np

from mtaimkg_jax import records
from mtaimkg_jax.data import loading
from mtaimkg_jax.eval import runner, self_training

from conftest import ea_el_run_config


def test_mutual_best_pairs_with_a_margin():
  scores = np.array([[3.0, 0.0, 0.0],
                     [2.9, 0.0, 1.0],  # its best (0) prefers row 0
                     [0.0, 0.5, -np.inf],  # mutual with column 1
                     [-np.inf, -np.inf, -np.inf]])  # may pair with nothing
  rows, columns = self_training.mutual_best(scores, margin=0.0)
  assert rows.tolist() == [0, 2] and columns.tolist() == [0, 1]
  rows, columns = self_training.mutual_best(scores, margin=1.0)
  assert rows.tolist() == [0] and columns.tolist() == [0]


def test_pseudo_seeds_recode_the_anchors_view():
  config = ea_el_run_config()
  (_, graph), = loading.load_graphs(config, loading.parse_tasks(
      (('ea', 'ea/synthetic', 1.0),)))
  test = graph.queries['test']
  gold = np.stack([test.nodes, test.answers], axis=1)
  seeded = self_training.with_seeds(graph, gold[:5], config)
  assert len(seeded.seed_pairs) == len(graph.seed_pairs) + 5
  assert self_training.precision(graph, 'test', gold[:5]) == 1.0
  assert self_training.precision(graph, 'test', gold[:2, ::-1]) == 0.0
  before = graph.features['anchors'].present
  after = seeded.features['anchors'].present
  assert after.sum() > before.sum() and after[before].all()
  # The graph it came from is unchanged (rounds restart from it).
  assert len(graph.seed_pairs) == len(seeded.seed_pairs) - 5


def test_self_training_rounds_rank_again_and_report_held_out_precision(
    ea_el_run, tmp_path):
  config, workdir, _ = ea_el_run
  config = config.copy_and_resolve_references()
  config.init_workdir = workdir
  config.eval.tasks = (('ea', 'ea/synthetic', 1.0),)
  config.eval.self_training_rounds = 2
  out = tmp_path / 'self_trained'
  results = runner.evaluate_checkpoint(config, str(out))
  assert {'ea/synthetic', 'ea/synthetic:sinkhorn'} <= set(results)
  plain = [r for r in records.read_all(str(out / records.RECORDS_DIR))
           if r['key'] == 'ea/synthetic']
  rounds = plain[0]['self_training']
  assert [r['round'] for r in rounds] == [1, 2]
  for report in rounds:
    assert report['pseudo_seeds'] > 0 and report['held_out_mined'] > 0
    assert 0.0 <= report['held_out_precision'] <= 1.0
  # Each round ranked a graph of its own, saved apart.
  saved = sorted(p.name for p in (out / 'eval').iterdir())
  assert 'ea_synthetic.test.self_training2.npz' in saved
  assert 'ea_synthetic.valid.self_training1.npz' in saved
