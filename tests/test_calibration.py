"""eval/calibration.py and `eval.calibrate_learned_scale`: the prior is the
model's cosine term exactly (EA and EL), the scale is chosen on the
held-out queries (EA seed pairs ranked among their own and the test
counterparts), and the calibrated test ranks are `prior + scale × learned`
of the saved scores."""
# Tests reach into private helpers on purpose.
# pylint: disable=protected-access

import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from conftest import ea_el_run_config
from mtaimkg_jax import checkpoint, config_check, metrics, records, train
from mtaimkg_jax.data import loading
from mtaimkg_jax.data.padding import choose_budget, graph_arrays
from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.eval import calibration, ranking, runner
from mtaimkg_jax.eval.matching import matrix_ranks
from mtaimkg_jax.experiment import build_model
from mtaimkg_jax.types import TASK_IDS, Queries


@pytest.fixture(scope='module')
def run(ea_el_run):
  config, workdir, results = ea_el_run
  graphs = {graph.key: graph for _, graph in loading.load_graphs(config)}
  params = checkpoint.Checkpoints(workdir, 1, 1000).latest_params()
  return config, workdir, results, graphs, params


def _saved(workdir, dataset, split):
  return np.load(ranking.saved_ranks_path(workdir, dataset, split))


def _queries(graph, split, rows):
  """Queries of `split` at `rows`, as the model reads them."""
  chosen = graph.queries[split].take(rows)
  return Queries(nodes=chosen.nodes.astype(np.int32),
                 relations=chosen.relations.astype(np.int32),
                 answers=chosen.answers.astype(np.int32),
                 task=np.full(len(rows), TASK_IDS[graph.task], np.int32),
                 valid=np.ones(len(rows), bool))


def _unit_cosines(graph, modality, nodes, candidates):
  """[Q, C] cosine of the unified features of `nodes` and `candidates`
  (absent rows give 0; a query node's own cosine counts 0, as in the
  model), or None for a modality the graph lacks."""
  feature = graph.features.get(modality)
  if feature is None:
    return None
  x = np.where(feature.present[:, None], feature.values, 0)
  unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)
  cosines = unit[nodes] @ unit[candidates].T
  return np.where(nodes[:, None] == candidates[None, :], 0.0, cosines)


def _cosine_prior(graph, modalities, weights, nodes, candidates):
  """[Q, C] Σ_m weights[q, m] · cosine of `nodes` and `candidates`, in
  numpy."""
  total = np.zeros((len(nodes), len(candidates)), np.float32)
  for i, modality in enumerate(modalities):
    cosines = _unit_cosines(graph, modality, nodes, candidates)
    if cosines is not None:
      total += weights[:, i:i + 1] * cosines
  return total


@pytest.mark.parametrize('dataset', ['ea/synthetic', 'el/synthetic'])
def test_prior_is_the_routed_name_cosines(run, dataset):
  """The names prior (the model's name terms) is the numpy cosine prior
  with the routed weights; with every other weight silenced, it is the
  whole logit."""
  config, _, _, graphs, params = run
  graph = graphs[dataset]
  model = build_model(config)
  silent = jax.tree_util.tree_map(np.array, params)
  names = [1 + i for i in range(len(model.modalities))]
  others = [k for k in range(len(model.terms)) if k not in names]
  silent['router']['base'][:, others] = 0
  silent['router']['moe']['w_out'][..., others] = 0
  silent['router']['moe']['b_out'][..., others] = 0
  queries = _queries(graph, 'test', np.arange(8))
  nodes = queries.nodes
  candidates = np.flatnonzero(graph.candidates)
  arrays = graph_arrays(graph, choose_budget(graph), config.features.k)
  index = np.broadcast_to(candidates, (8, len(candidates))).astype(np.int32)
  output = model.apply({'params': params}, arrays, queries, index)
  weights = _name_weights(graph, model, output.terms, nodes, candidates)
  prior = _cosine_prior(graph, model.modalities, weights, nodes, candidates)
  np.testing.assert_allclose(np.asarray(model.terms.names_prior(output.terms)), prior,
                             rtol=1e-4, atol=1e-4)
  logits = model.apply({'params': silent}, arrays, queries, index).logits
  np.testing.assert_allclose(np.asarray(logits), prior, rtol=1e-4, atol=1e-4)


def _name_weights(graph, model, terms, nodes, candidates):
  """[B, M] each query's routed weight of each name term: the least-squares
  ratio of the term to the numpy cosines over the candidates."""
  columns = []
  for modality in model.modalities:
    cosines = _unit_cosines(graph, modality, nodes, candidates)
    if cosines is None:
      columns.append(np.zeros(len(nodes), np.float32))
      continue
    term = np.asarray(terms[modality])
    columns.append((term * cosines).sum(1) /
                   np.maximum((cosines * cosines).sum(1), 1e-12))
  return np.stack(columns, axis=1)


def test_held_out_pairs_rank_among_their_and_the_test_counterparts(run):
  _, workdir, _, graphs, _ = run
  graph = graphs['ea/synthetic']
  valid, test = graph.queries['valid'], graph.queries['test']
  candidates = np.flatnonzero(graph.for_split('valid').candidates)
  np.testing.assert_array_equal(
      candidates, np.union1d(valid.answers, np.flatnonzero(graph.candidates)))
  saved = _saved(workdir, graph.key, 'valid')
  assert saved['scores'].shape == (len(valid.nodes), len(candidates))
  np.testing.assert_array_equal(candidates[saved['columns'][:, 0]],
                                valid.answers)
  # The held-out pairs are not `same_as` edges: no seed, no training query.
  same_as = graph.num_base_relations - 1
  edges = {tuple(e) for e in graph.edges[graph.edges[:, 1] == same_as][:, [0, 2]]}
  assert not edges & {(a, b) for a, b in zip(valid.nodes, valid.answers)}
  assert len(test.nodes) and len(graph.queries['train'].nodes)


@pytest.mark.parametrize('dataset', ['ea/synthetic', 'el/synthetic'])
def test_scale_is_the_best_on_the_held_out_queries(run, dataset):
  config, workdir, _, graphs, params = run
  graph = graphs[dataset]
  chosen = json.load(open(os.path.join(workdir, 'calibration.json')))
  entry = chosen[dataset]
  saved = _saved(workdir, dataset, 'valid')
  prior, learned = calibration.parts(saved)
  scale, mrr = calibration.choose_scale(prior, learned, saved['columns'])
  assert entry['learned_scale'] == scale in calibration.SCALES
  assert entry['valid_pairs'] == len(graph.queries['valid'].nodes)
  assert entry['valid_mrr'] == pytest.approx(
      {f'{s:g}': m for s, m in mrr.items()})
  assert mrr[scale] == max(mrr.values())
  gain = entry['valid_gain_over_full_scale']
  assert gain['mrr'] == pytest.approx(mrr[scale] - mrr[1.0])
  assert gain['standard_error'] >= 0


def test_the_gain_over_full_scale_is_paired_over_the_same_queries():
  columns = np.array([[0], [1], [2], [0]], np.int32)
  prior = np.zeros((4, 3), np.float32)
  # Scale 1 ranks the answers 1, 1, 2, 2; scale 0 ties all three
  # candidates (realistic rank 2).
  learned = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 1, 0.5], [0.5, 1, 0]],
                     np.float32)
  gain, error = calibration.gain_over_full_scale(prior, learned, columns, 0.0)
  difference = np.array([-0.5, -0.5, 0, 0])
  assert gain == pytest.approx(difference.mean())
  assert error == pytest.approx(difference.std(ddof=1) / 2)


@pytest.mark.parametrize('dataset', ['ea/synthetic', 'el/synthetic'])
def test_calibrated_ranks_are_the_rescaled_saved_scores(run, dataset):
  config, workdir, results, graphs, params = run
  graph = graphs[dataset]
  saved = _saved(workdir, dataset, 'test')
  scores, columns = saved['scores'], saved['columns']
  # At scale 1 the split scores are the model's: its plain ranks back.
  np.testing.assert_allclose(matrix_ranks(scores, columns), saved['ranks'])
  prior, learned = calibration.parts(saved)
  # The kept prior is the model's names prior of the same pairs.
  test = graph.for_split('test')
  rows = saved['query_ids'][np.r_[0, np.cumsum(
      (saved['columns'] >= 0).sum(axis=1))[:-1]]][:8]
  model = build_model(config)
  queries = _queries(test, 'test', rows)
  candidates = np.flatnonzero(test.candidates)
  index = np.broadcast_to(candidates, (8, len(candidates))).astype(np.int32)
  terms = model.apply({'params': params}, graph_arrays(
      test, choose_budget(test), config.features.k), queries, index).terms
  expected = np.asarray(model.terms.names_prior(terms))
  kept = prior[:8]
  finite = np.isfinite(kept)
  np.testing.assert_allclose(kept[finite], expected[finite], rtol=1e-4,
                             atol=1e-4)
  np.testing.assert_allclose(calibration.scaled(prior, learned, 1.0), scores,
                             rtol=1e-5, atol=1e-5)
  scale = json.load(open(os.path.join(workdir, 'calibration.json'))
                    )[dataset]['learned_scale']
  expected = metrics.summarize(matrix_ranks(
      calibration.scaled(prior, learned, scale), columns))
  got = results[dataset + calibration.CALIBRATED]
  assert got['mrr'] == pytest.approx(expected['mrr'])
  assert got['count'] == len(graph.queries['test'].nodes)
  # One-to-one matching is EA's only (EL answers are shared).
  matched = dataset + calibration.CALIBRATED + records.ONE_TO_ONE
  assert (matched in results) == (graph.task == 'ea')


def test_choose_scale_follows_the_held_out_ranking():
  columns = np.array([[0], [1], [2]], np.int32)
  right = np.eye(3, dtype=np.float32)
  wrong = np.roll(right, 1, axis=1) * 3
  assert calibration.choose_scale(right, wrong, columns)[0] == 0.0
  assert calibration.choose_scale(right * 0, right, columns)[0] == 0.1
  masked = np.where(np.eye(3, k=1) > 0, -np.inf, right).astype(np.float32)
  prior, learned = calibration.parts({'scores': masked,
                                      'prior': np.where(np.isfinite(masked), 0,
                                                        -np.inf)})
  assert np.isneginf(calibration.scaled(prior, learned, 0.5)).sum() == 2


def test_bad_settings_name_their_key():
  config = ea_el_run_config()
  config.model.name = 'ultra'
  with pytest.raises(ConfigError, match='eval.calibrate_learned_scale'):
    config_check.validate(config)
  config = ea_el_run_config()
  config.ea.valid_fraction = 1.0
  with pytest.raises(ConfigError, match='ea.valid_fraction'):
    config_check.validate(config)
  graph = loading.load_graphs(ea_el_run_config())[0][1]
  assert graph.task == 'ea'
  with pytest.raises(ConfigError, match='ea.valid_fraction > 0'):
    calibration.calibrates(ea_el_run_config(),
                      dataclasses.replace(graph, queries={}))
  config = ea_el_run_config()
  config.eval.calibration_min_queries = len(graph.queries['valid'])
  assert calibration.calibrates(config, graph)
  config.eval.calibration_min_queries += 1
  with pytest.raises(ConfigError, match=r'eval.calibration_min_queries.*'
                     r'ea/synthetic holds out \d+ queries'):
    calibration.calibrates(config, graph)


def test_too_few_held_out_queries_stop_a_run_before_it_trains(tmp_path):
  config = ea_el_run_config()
  config.eval.calibration_min_queries = 10**6
  with pytest.raises(ConfigError, match='eval.calibration_min_queries'):
    train.train_and_evaluate(config, str(tmp_path))
  assert not checkpoint.has_saved_step(str(tmp_path))


def test_an_eval_of_another_workdir_calibrates_on_its_own_held_out_queries(
    run, tmp_path):
  """The transfer path (`--mode=eval` with `init_workdir`) chooses the scale
  on the evaluated graph's held-out queries: on the training graph it
  repeats the training run's choice and results."""
  _, workdir, results, _, _ = run
  config = ea_el_run_config()  # a fresh one: the fixture's is shared
  config.init_workdir = workdir
  transfer = str(tmp_path / 'transfer')
  assert runner.evaluate_checkpoint(config, transfer) == results
  with open(os.path.join(workdir, 'calibration.json')) as f:
    chosen = json.load(f)
  with open(os.path.join(transfer, 'calibration.json')) as f:
    assert json.load(f) == chosen
