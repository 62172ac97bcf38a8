"""The synthetic graph of any size (`make_scale_lp`): its size, its
structure, its determinism, and the scale benchmark that sweeps it."""

import json
import math
import pathlib
import sys

import numpy as np
import pytest

from mtaimkg_jax.data import synthetic
from mtaimkg_jax.data.features import unit_rows
from mtaimkg_jax.data.featurize import featurize
from mtaimkg_jax.data.graph import build_lp

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from benchmarks import scale  # pylint: disable=g-import-not-at-top


def test_scale_graph_has_the_asked_size_and_splits():
  spec = synthetic.ScaleSpec(num_entities=5000, triples_per_entity=4.0)
  task = synthetic.make_scale_lp(spec)
  triples = task.kg.triples
  total = sum(len(t) for t in triples.values())
  assert 0.95 * 20000 <= total <= 20000  # duplicates removed
  assert len(triples['valid']) == len(triples['test']) == int(0.05 * total)
  seen = set()
  for split in triples.values():
    rows = {tuple(t) for t in split}
    assert not rows & seen
    seen |= rows
  assert task.kg.features['text'].values.shape == (5000, spec.text_dim)


def test_scale_graph_is_deterministic_and_community_biased():
  spec = synthetic.ScaleSpec(num_entities=3000, triples_per_entity=4.0)
  first = synthetic.make_scale_lp(spec).kg
  second = synthetic.make_scale_lp(spec).kg
  for split in first.triples:
    np.testing.assert_array_equal(first.triples[split],
                                  second.triples[split])
  # Features encode the community: linked nodes are more alike than
  # random pairs (what the model's modality paths can read).
  x = unit_rows(first.features['text'].values)
  train = first.triples['train']
  linked = np.mean(np.sum(x[train[:, 0]] * x[train[:, 2]], axis=1))
  rng = np.random.default_rng(0)
  pairs = rng.integers(0, 3000, (len(train), 2))
  random = np.mean(np.sum(x[pairs[:, 0]] * x[pairs[:, 1]], axis=1))
  assert linked > random + 0.05


def test_a_million_edge_graph_builds():
  task = synthetic.make_scale_lp(synthetic.ScaleSpec(num_entities=60_000))
  graph = featurize(build_lp(task), 8)
  assert graph.num_edges >= 1_000_000


def test_scale_benchmark_on_tiny_graphs(tmp_path):
  out = tmp_path / 'scale.json'
  report = scale.main([
      '--entities', '300,600', '--triples-per-entity', '3', '--batch', '2',
      '--dim', '8', '--layers', '2', '--negatives', '4', '--feature-dim', '8',
      '--ranking-queries', '4', '--repeats', '1', '--remat-modes', 'true',
      '--json', str(out), '--plot', str(tmp_path / 'scale.png')])
  on_disk = json.loads(out.read_text())
  assert on_disk == json.loads(json.dumps(report))
  points = on_disk['points']['true']
  assert [p['entities'] for p in points] == [300, 600]
  assert points[1]['edges'] > points[0]['edges']
  for point in points:
    assert point['remat'] and point['train_step']['median_seconds'] > 0
    assert point['ranking']['queries'] == 4
    peaks = point['peak_resident_bytes']
    assert set(peaks) == {'build', 'train', 'ranking'}
    assert peaks['train'] >= point['graph_resident_bytes'] > 0
  linear = on_disk['linearity']['true']['train_step']
  assert math.isfinite(linear['max_over_min_seconds_per_edge'])
  assert math.isfinite(linear['loglog_slope'])
  assert linear['slope_within_20_percent_of_linear'] == (
      abs(linear['loglog_slope'] - 1) <= 0.2)
  model = on_disk['memory_model']['true']
  assert set(model['largest_nodes']) == set(scale.BUDGETS)
  assert math.isfinite(model['bytes_per_query_edge_dim'])
  assert (tmp_path / 'scale.png').stat().st_size > 0


def test_linearity_reads_seconds_per_edge_and_the_slope():
  points = [{'edges': 100, 't': 1.0}, {'edges': 200, 't': 2.0},
            {'edges': 400, 't': 4.4}]
  linear = scale.linearity(points, lambda p: p['t'])
  assert linear['max_over_min_seconds_per_edge'] == pytest.approx(1.1)
  assert linear['loglog_slope'] == pytest.approx(1.069, abs=1e-3)
  assert linear['slope_within_20_percent_of_linear']
  quadratic = scale.linearity(points[:2] + [{'edges': 400, 't': 16.0}],
                              lambda p: p['t'])
  assert not quadratic['slope_within_20_percent_of_linear']
