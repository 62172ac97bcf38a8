"""benchmarks/probes.py: the probes end to end on the synthetic graphs of
configs/test.py."""

import functools
import json
import sys

import numpy as np
import pytest

from configs import test as test_config
from conftest import PROJECT
from mtaimkg_jax.data import features, loading

sys.path.insert(0, str(PROJECT / 'benchmarks'))
import probes  # pylint: disable=g-import-not-at-top,wrong-import-position


@functools.lru_cache(maxsize=None)
def _graphs(synthetic=()):
  config = test_config.get_config()
  config.data.synthetic.update(dict(synthetic))
  return {g.task: g for _, g in loading.load_graphs(config)}


def _graph(task, **synthetic):
  """configs/test.py's synthetic graph of `task` (loaded once per
  generator setting; probes only read it)."""
  return _graphs(tuple(sorted(synthetic.items())))[task]


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


def test_lp_text_signals_count_what_text_neighbours_point_to():
  graph = _graph('lp')
  signals = probes.LPTextSignals(graph, k=3)
  train = graph.queries['train']
  node, relation = int(train.nodes[0]), int(train.relations[0])
  prototype, neighbours = signals(np.array([node]), np.array([relation]))
  x = signals.x
  similar = x @ x[node]
  similar[node] = -np.inf
  expected = np.zeros(graph.num_nodes)
  for other in np.argsort(-similar)[:3]:
    mine = (train.nodes == other) & (train.relations == relation)
    for answer in np.unique(train.answers[mine]):
      expected[answer] += max(similar[other], 0.0)
  np.testing.assert_allclose(neighbours[0], expected, atol=1e-5)
  answers = train.answers[train.relations == relation]
  mean = x[answers].mean(axis=0)
  np.testing.assert_allclose(prototype[0], x @ (mean / np.linalg.norm(mean)),
                             atol=1e-5)


def test_lp_text_chooses_weights_on_one_graph_and_tests_another():
  graph = _graph('lp')
  choosing = _graph('lp', seed=1, num_entities=90)
  assert len(choosing.queries['valid']) != len(graph.queries['valid'])
  result = probes.lp_text(graph, choosing, checkpoint=None,
                          choose_answers=20)
  # Every 2nd batch of the choosing graph's validation answers (about 20 of
  # its 40), and the test graph's tests.
  assert len(choosing.queries['valid']) == 40
  assert result['chosen_on'].startswith(
      f'{choosing.key} valid, 1 batch in 2, ')
  assert 10 < int(result['chosen_on'].split(', ')[-1].split()[0]) < 30
  chosen = (result['weight']['prototype'], result['weight']['neighbours'])
  assert chosen in probes.LP_WEIGHTS
  assert result['choose_mrr'][f'{chosen[0]:g},{chosen[1]:g}'] == max(
      result['choose_mrr'].values())
  test_answers = len(graph.queries['test'])
  for key in ('test_baseline', 'test_probe'):
    assert result[key]['count'] == test_answers
    assert 0 < result[key]['mrr'] <= 1
  if chosen == (0.0, 0.0):
    assert result['test_probe'] == result['test_baseline']


def test_linked_pairs_counts_answers_train_already_links():
  graph = _graph('lp')
  result = probes.linked_pairs(graph)
  train = graph.queries['train']
  pairs = set(zip(train.nodes.tolist(), train.answers.tolist()))
  pairs |= {(b, a) for a, b in pairs}
  for split in ('valid', 'test'):
    queries = graph.queries[split]
    linked = [(a, b) in pairs
              for a, b in zip(queries.nodes.tolist(), queries.answers.tolist())]
    assert result[split] == {'answers': len(linked),
                             'linked_in_train': np.mean(linked)}
    assert 0 < result[split]['linked_in_train'] < 1


def test_main_writes_a_structure_only_probe_and_checks_choose_on(
    tmp_path, capsys):
  out = tmp_path / 'probes.json'
  assert probes.main(['linked-pairs', '--dataset', 'lp/synthetic',
                      '--out', str(out)]) == 0
  result = json.loads(out.read_text())['linked-pairs lp/synthetic']
  assert set(result) == {'valid', 'test'}
  assert json.loads(capsys.readouterr().out.split(': ', 1)[1]) == result
  for argv in (['lp-text', '--dataset', 'lp/synthetic'],
               ['linked-pairs', '--dataset', 'lp/synthetic', '--choose-on',
                'lp/synthetic']):
    with pytest.raises(SystemExit):
      probes.main(argv + ['--out', str(out)])
  assert '--choose-on' in capsys.readouterr().err


def test_a_result_is_kept_per_graph_its_weights_were_chosen_on():
  keys = {probes.result_key('lp-text', 'lp/MKG-W', choose_on)
          for choose_on in ('lp/DB15K', 'lp/MKG-W')}
  assert keys == {'lp-text lp/MKG-W chosen on lp/DB15K',
                  'lp-text lp/MKG-W chosen on lp/MKG-W'}
  assert probes.result_key('linked-pairs', 'lp/DB15K', None) == (
      'linked-pairs lp/DB15K')


def _el_dataset(root):
  """Two entities named Paris told apart by their attributes only."""
  path = root / 'el' / 'tiny'
  path.mkdir(parents=True)
  (path / 'qid2ne.json').write_text(json.dumps(
      {'Q1': 'Paris', 'Q2': 'Paris', 'Q3': 'Lyon'}))
  (path / 'qid2abs.json').write_text(json.dumps(
      {'Q1': 'Instance of: city. Country: France.',
       'Q2': 'Occupation: actress.', 'Q3': 'Instance of: city.'}))

  def mention(surface, sentence, answer):
    return {'mentions': surface, 'sentence': sentence, 'answer': answer}

  (path / 'train.json').write_text(json.dumps([
      mention('Paris', 'Paris is a city in France.', 'Q1'),
      mention('Lyon', 'Lyon is a city.', 'Q3')]))
  (path / 'test.json').write_text(json.dumps([
      mention('Paris', 'Paris acted in a film as an actress.', 'Q2'),
      mention('Paris', 'The city of Paris.', 'Q1')]))
  return 'el/tiny'


def test_el_context_reads_sentences_and_attributes_apart_from_names(
    tmp_path):
  graph = probes.load(_el_dataset(tmp_path), 'el', str(tmp_path))
  contexts = dict(zip(graph.node_names, probes.context_texts(graph)))
  assert probes.context_texts(graph)[:3] == [
      'Instance of: city. Country: France.', 'Occupation: actress.',
      'Instance of: city.']
  assert contexts['city'] == ''  # an attribute value: its name only
  test_nodes = graph.queries['test'].nodes
  assert [probes.context_texts(graph)[n] for n in test_nodes] == [
      'Paris acted in a film as an actress.', 'The city of Paris.']
  for within_homonyms in (False, True):
    result = probes.el_context(graph, within_homonyms=within_homonyms)
    assert result['weight'] in probes.WEIGHTS
    for key in ('test_names_floor', 'test_baseline', 'test_probe'):
      assert result[key]['count'] == 2
      assert result[key]['shared_name']['count'] == 2  # gold names: Paris


def test_original_names_adds_a_multilingual_name_cosine_to_the_ea_prior():
  graph = _graph('ea')
  hashing = features.HashingEncoder(64)
  result = probes.original_names(graph, lambda forms: features.encode_texts(
      hashing, forms, None))
  assert result['weight'] in probes.WEIGHTS
  for key in ('test_baseline', 'test_probe', 'test_original_names_alone'):
    assert result[key]['count'] == len(graph.queries['test'])
  for key in ('test_baseline', 'test_probe'):
    assert 0 < result[key]['one_to_one_hits@1'] <= 1
  if result['weight'] == 0.0:
    assert result['test_probe'] == result['test_baseline']


def test_homonym_centring_only_reorders_entities_that_share_a_name(tmp_path):
  graph = probes.load(_el_dataset(tmp_path), 'el', str(tmp_path))
  candidates = np.flatnonzero(graph.candidates)  # Paris, Paris, Lyon
  centre = probes.homonym_centring(graph, candidates)
  signal = np.array([[0.9, 0.1, 0.7], [0.2, 0.6, 0.4]], np.float32)
  np.testing.assert_allclose(centre(signal), [[0.4, -0.4, 0.0],
                                              [-0.2, 0.2, 0.0]], atol=1e-6)
