"""Graph evidence: masked self-prediction of each term on the fact graph
only, and the router's evidence path (exact at initialisation, learns
the map from evidence to weight across graphs)."""

import json

import jax
import numpy as np
import pytest

from configs import test as test_config
from mtaimkg_jax import train
from mtaimkg_jax.data import evidence
from mtaimkg_jax.data.featurize import featurize
from mtaimkg_jax.data.graph import build_lp
from mtaimkg_jax.data.mmkg import Features, LPTask, MMKG, Vocab
from mtaimkg_jax.data.padding import choose_budget, graph_arrays
from mtaimkg_jax.models.terms import Terms
from mtaimkg_jax.types import ALL_MODALITIES, TASK_IDS, Queries

K = 6


def test_a_text_that_names_the_answer_ranks_it_first():
  """Each head's text is its answer's: the query term ranks every held-out
  answer first (the head's own match counts 0, as in the model); the
  prototype term cannot (each head has its own answer); coverage is 1."""
  n = 40
  heads = np.arange(0, n, 2)
  triples = np.stack([heads, np.zeros_like(heads), heads + 1], 1)
  values = np.eye(n, dtype=np.float32)
  values[heads] = np.eye(n, dtype=np.float32)[heads + 1]
  edges = np.concatenate([triples, triples[:, ::-1] * [1, 0, 1] +
                          [0, 1, 0]])
  rows, _ = evidence.relation_evidence(
      edges, 2, {'text': (values, np.ones(n, bool))}, np.ones(n, bool))
  names = evidence.feature_names(('text',))
  got = dict(zip(names, rows[0]))
  assert got['text.query_mrr'] == pytest.approx(1.0)
  assert got['text.query_lift'] == pytest.approx(1.0)
  assert got['text.query_gain'] > 1.0  # far above popularity
  assert got['text.prototype_mrr'] < 0.5
  assert got['text.coverage'] == 1.0 and got['support'] == pytest.approx(
      min(1.0, np.log1p(n // 2) / np.log1p(64)))
  # Random text ranks no better than popularity; absent text says nothing.
  noise = np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)
  rows, mean = evidence.relation_evidence(
      edges, 2, {'text': (noise, np.ones(n, bool)),
                 'image': (noise, np.zeros(n, bool))}, np.ones(n, bool))
  got = dict(zip(evidence.feature_names(('text', 'image')), rows[0]))
  assert got['text.query_mrr'] < 0.2
  assert got['image.coverage'] == 0.0 and got['image.query_mrr'] == 0.0
  np.testing.assert_allclose(mean, np.average(
      rows, axis=0, weights=[len(triples)] * 2), rtol=1e-6)


def _lp_graph(valid: np.ndarray, test: np.ndarray) -> object:
  rng = np.random.default_rng(0)
  n = 30
  train_triples = np.unique(np.stack([rng.integers(0, n, 80),
                                      rng.integers(0, 3, 80),
                                      rng.integers(0, n, 80)], 1), axis=0)
  kg = MMKG('g', Vocab([str(i) for i in range(n)]),
            Vocab(['a', 'b', 'c']),
            {'train': train_triples, 'valid': valid, 'test': test},
            [str(i) for i in range(n)], [''] * n,
            {'text': Features(rng.normal(size=(n, 10)).astype(np.float32),
                              rng.random(n) > 0.1)})
  return featurize(build_lp(LPTask('lp/g', kg)), K)


def test_the_evidence_reads_the_fact_graph_only():
  """Other valid and test triples (the same fact graph) leave every
  evidence value unchanged."""
  first = _lp_graph(np.array([[0, 0, 1], [2, 1, 3]]),
                    np.array([[4, 2, 5]]))
  second = _lp_graph(np.array([[7, 2, 9], [1, 1, 1], [5, 0, 6]]),
                     np.array([[3, 0, 8], [9, 1, 2]]))
  assert not np.array_equal(first.queries['test'].nodes,
                            second.queries['test'].nodes)
  for a, b in zip(evidence.of_graph(first), evidence.of_graph(second)):
    np.testing.assert_array_equal(a, b)


def test_the_graph_arrays_carry_the_evidence_per_relation():
  graph = _lp_graph(np.array([[0, 0, 1]]), np.array([[4, 2, 5]]))
  rows, mean = evidence.of_graph(graph)
  arrays = graph_arrays(graph, choose_budget(graph), K)
  assert arrays.evidence.shape == (choose_budget(graph).relations,
                                   rows.shape[1])
  np.testing.assert_array_equal(arrays.evidence[:len(rows)], rows)
  assert not arrays.evidence[len(rows):].any()
  np.testing.assert_array_equal(arrays.evidence_mean, mean)


def test_term_columns_read_each_terms_own_modality():
  modalities = ('text', 'neighbours')
  columns = evidence.term_columns(modalities)
  names = evidence.feature_names(ALL_MODALITIES)
  assert len(columns) == len(Terms(modalities)) - 1
  assert [names[c] for c in columns[0][:3]] == [
      'text.query_mrr', 'text.query_lift', 'text.query_gain']
  assert [names[c] for c in columns[3][:3]] == [
      'neighbours.prototype_mrr', 'neighbours.prototype_lift',
      'neighbours.prototype_gain']
  assert names[columns[1][-1]] == 'support'


def test_with_its_evidence_path_at_initial_values_the_model_ranks_as_before():
  from mtaimkg_jax.models.model import MtaIMKG  # pylint: disable=g-import-not-at-top
  graph = _lp_graph(np.array([[0, 0, 1]]), np.array([[4, 2, 5]]))
  arrays = graph_arrays(graph, choose_budget(graph), K)
  queries = Queries(np.array([0, 1, 2, 3], np.int32),
                    np.array([0, 1, 4, 5], np.int32),
                    np.zeros(4, np.int32), np.array(
                        [TASK_IDS['lp']] * 2 + [TASK_IDS['ea']] * 2,
                        np.int32), np.ones(4, bool))
  common = dict(dim=8, num_layers=2, task_dim=4, num_experts=2,
                expert_hidden=8, chunk_size=16, gate_hidden=4,
                names_prior_tasks=(TASK_IDS['ea'], TASK_IDS['el']))
  before, after = MtaIMKG(**common), MtaIMKG(**common, graph_evidence=True)
  init = lambda m: m.init(jax.random.PRNGKey(0), arrays, queries,
                          np.zeros((4, 2), np.int32))['params']
  old, new = init(before), init(after)
  shared = dict(new)
  shared['router'] = {k: v for k, v in new['router'].items()
                      if not k.startswith('evidence')}
  chex_equal = jax.tree_util.tree_map(np.array_equal, old, shared)
  assert all(jax.tree_util.tree_leaves(chex_equal))
  got = after.apply({'params': new}, arrays, queries, method='rank')
  want = before.apply({'params': old}, arrays, queries, method='rank')
  np.testing.assert_array_equal(got.logits, want.logits)
  np.testing.assert_array_equal(got.routing, want.routing)


# Two kinds of synthetic graph: one with relations its text decides (each
# head's nearest entity by its own text), one whose text is unrelated to
# its facts.
_KINDS = {'speaks': 'text_signal=1,num_text_relations=3,text_noise=0.1',
          'noise': 'text_signal=0,num_text_relations=3,text_noise=0.1'}


def _synthetic(kind: str, seed: int) -> tuple[str, str, float]:
  return ('lp', f'lp/synthetic@seed={seed},{_KINDS[kind]}', 1.0)


@pytest.fixture(scope='module')
def routed_run(tmp_path_factory):
  config = test_config.get_config()
  config.data.synthetic.num_entities = 200
  config.tasks = (_synthetic('speaks', 1), _synthetic('noise', 2))
  config.eval.tasks = (_synthetic('speaks', 3), _synthetic('noise', 4),
                       *config.tasks)
  config.model.fact_gate = True
  config.eval.gate_queries = 128
  config.train.num_steps = 300
  config.train.checkpoint_every = 300
  workdir = str(tmp_path_factory.mktemp('routed'))
  train.train_and_evaluate(config, workdir)
  with open(f'{workdir}/routing_by_dataset.json') as f:
    shares = json.load(f)
  with open(f'{workdir}/evidence.json') as f:
    seen = json.load(f)
  return shares, seen


def test_the_text_weight_follows_the_graphs_evidence(routed_run):
  """Trained on one graph whose text decides some facts and one whose
  text is noise, the model uses its text where the graph's own facts say
  it helps: on the trained graphs and on an unseen graph of each kind,
  the text term's share of the logits is at least twice as large where
  the text speaks, and near zero where it is noise; the term-alone
  evidence says the same."""
  shares, seen = routed_run
  for seed_speaks, seed_noise in ((1, 2), (3, 4)):
    speaks = _synthetic('speaks', seed_speaks)[1]
    noise = _synthetic('noise', seed_noise)[1]
    assert (seen[speaks]['mean']['text.query_gain'] >
            seen[noise]['mean']['text.query_gain'] + 0.5)
    assert shares[speaks]['text'] > 2 * shares[noise]['text'], (
        speaks, shares[speaks], shares[noise], seen[speaks]['fact_gate'],
        seen[noise]['fact_gate'])
    assert shares[noise]['text'] < 0.02
    # The gate keeps text at half or more where it speaks and turns it
    # down to a quarter or less where it is noise (0 and 1/4 can be
    # within a standard error of each other on a noise graph's sample).
    assert seen[speaks]['fact_gate']['scales']['text'] >= 0.5
    assert seen[noise]['fact_gate']['scales']['text'] <= 0.25
