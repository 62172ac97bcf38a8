"""eval/self_training.py: pseudo-seeds from mutual best pairs, fed back."""

from types import SimpleNamespace

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


def test_pseudo_seeds_map_rows_to_their_queries():
  # Three rows; row 0 has two answers, so query_ids (one per answer, row
  # after row) is longer than the rows: row r's query is its first's.
  graph = SimpleNamespace(
      queries={'test': SimpleNamespace(nodes=np.array([10, 11, 12, 13]))},
      candidates=np.array([False, True, True, True]))
  result = {'scores': np.array([[0.0, 5.0, 1.0],
                                [4.0, 0.0, 1.0],
                                [0.0, 1.0, 6.0]], np.float32),
            'columns': np.array([[1, 0], [0, -1], [2, -1]], np.int32),
            'query_ids': np.array([3, 3, 0, 2])}
  pairs = self_training.pseudo_seeds(graph, 'test', result, margin=0.0)
  # Mutual: row 0 ↔ column 1 (node 2), row 1 ↔ column 0 (node 1), row 2 ↔
  # column 2 (node 3); row 1's query is query 0 (node 10).
  assert pairs.tolist() == [[13, 2], [10, 1], [12, 3]]


def test_pseudo_seeds_recode_the_anchors_view():
  config = ea_el_run_config()
  (_, graph), = loading.load_graphs(config, loading.parse_tasks(
      (('ea', 'ea/synthetic', 1.0),)))
  test = graph.queries['test']
  gold = np.stack([test.nodes, test.answers], axis=1)
  seeds = graph.seed_pairs.copy()
  # A pair with a node some seed pair has already is left out.
  taken = np.array([[gold[5, 0], seeds[0, 1]]])
  seeded = self_training.with_seeds(
      graph, np.concatenate([gold[:5], taken]), config)
  assert len(seeded.seed_pairs) == len(seeds) + 5
  assert self_training.precision(graph, 'test', gold[:5]) == 1.0
  assert self_training.precision(graph, 'test', gold[:2, ::-1]) == 0.0
  before = graph.features['anchors'].present
  after = seeded.features['anchors'].present
  assert after.sum() > before.sum() and after[before].all()
  assert not np.array_equal(seeded.evidence, graph.evidence)
  # The graph it came from is unchanged (rounds restart from it).
  np.testing.assert_array_equal(graph.seed_pairs, seeds)


def test_self_training_rounds_rank_again_and_report_held_out_precision(
    ea_el_run, tmp_path):
  config, workdir, _ = ea_el_run
  config = config.copy_and_resolve_references()
  config.init_workdir = workdir
  config.eval.tasks = (('ea', 'ea/synthetic', 1.0),)
  config.eval.self_training_rounds = 2
  config.eval.calibrate_learned_scale = False  # chosen without pseudo-seeds
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
