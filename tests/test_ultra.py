"""ULTRA weight import and parity on real inductive graphs, training from
scratch with ULTRA's recipe. The `.pth` reader on hostile files:
test_torch_checkpoint.py."""

import json

import flax
import numpy as np
import pytest

from configs import ultra_zeroshot
from mtaimkg_jax import checkpoint, train
from mtaimkg_jax.errors import DataError
from mtaimkg_jax.eval import runner
from mtaimkg_jax.models import torch_checkpoint, ultra_import

# ULTRA's own PyTorch code, ultra_3g.pth (issue #3): MRR, Hits@1, Hits@10.
REFERENCE = {
    'fb237_v1': (822, 0.4863, 0.3893, 0.6569),
    'WN18RR_v1': (746, 0.5929, 0.5013, 0.7788),
    'nell_v1': (402, 0.7262, 0.6716, 0.8632),
}


@pytest.fixture(scope='module')
def ultra_3g(ultra_checkpoint_dir):
  return str(ultra_checkpoint_dir / 'ultra_3g.pth')


@pytest.mark.parametrize('name', ['ultra_3g', 'ultra_4g', 'ultra_50g'])
def test_checkpoints_import_with_exact_parameter_count(ultra_checkpoint_dir,
                                                       name):
  params = ultra_import.load_ultra(ultra_checkpoint_dir / f'{name}.pth')
  sizes = [np.size(x) for x in _leaves(params)]
  assert sum(sizes) == 168_705


def _leaves(tree):
  if isinstance(tree, dict):
    for value in tree.values():
      yield from _leaves(value)
  else:
    yield tree


def test_missing_or_misshaped_tensor_is_named(ultra_3g):
  state = torch_checkpoint.load_state_dict(ultra_3g)
  broken = dict(state)
  del broken['entity_model.mlp.2.bias']
  with pytest.raises(DataError, match='entity_model.mlp.2.bias'):
    ultra_import.ultra_params(broken, 'x.pth')
  broken = dict(state)
  broken['relation_model.layers.3.relation.weight'] = np.zeros((5, 64))
  with pytest.raises(DataError, match=r'relation_model.layers.3.*\(5, 64\)'):
    ultra_import.ultra_params(broken, 'x.pth')
  with pytest.raises(DataError, match='4-layer'):
    ultra_import.ultra_params(state, 'x.pth', num_layers=4)


def test_orbax_round_trip_needs_no_pth(ultra_3g, tmp_path):
  params = ultra_import.load_ultra(ultra_3g)
  ultra_import.main(['ultra_import', ultra_3g, str(tmp_path / 'orbax')])
  restored = flax.traverse_util.flatten_dict(
      checkpoint.load_params(str(tmp_path / 'orbax')))
  expected = flax.traverse_util.flatten_dict(params)
  assert set(restored) == set(expected)
  for path, value in expected.items():
    np.testing.assert_array_equal(restored[path], value)


def _zero_shot(data_root, dataset, init, workdir, ties='realistic'):
  config = ultra_zeroshot.get_config(f'dataset={dataset}')
  config.data.root = data_root
  config.model.init_checkpoint = init
  config.eval.ties = ties
  return runner.evaluate_checkpoint(config, str(workdir))[f'lp/grail/{dataset}_ind']


@pytest.mark.parametrize('dataset', sorted(REFERENCE))
def test_zero_shot_parity_with_ultra(data_root, ultra_3g, tmp_path, dataset):
  """Realistic ranks (ties half against): measured 0.4869 / 0.5933 / 0.7255
  MRR on fb237 / WN18RR / NELL."""
  ranks, mrr, hits1, hits10 = REFERENCE[dataset]
  got = _zero_shot(data_root, dataset, ultra_3g, tmp_path)
  assert got['count'] == ranks
  assert got['mrr'] == pytest.approx(mrr, abs=0.005)
  assert got['hits@10'] == pytest.approx(hits10, abs=0.01)
  assert got['hits@1'] == pytest.approx(hits1, abs=0.01)
  with open(tmp_path / 'results.json') as f:
    assert f'lp/grail/{dataset}_ind' in json.load(f)


def test_mtaimkg_at_initialisation_ranks_as_ultra(data_root, ultra_3g,
                                                tmp_path):
  """MtaIMKG with ULTRA's weights and its gates, routed terms and evidence
  path at their initial values ranks fb237_v1_ind exactly as ULTRA does
  (its names and the name-trigram view give every edge features to gate
  on, and every term evidence)."""
  ultra = _zero_shot(data_root, 'fb237_v1', ultra_3g, tmp_path / 'ultra')
  config = ultra_zeroshot.get_config('dataset=fb237_v1')
  config.data.root = data_root
  config.model.name = 'mtaimkg'
  config.model.init_checkpoint = ultra_3g
  config.features.views = ('surface',)
  config.model.graph_evidence = True
  config.model.fact_gate = True
  full = runner.evaluate_checkpoint(config, str(tmp_path / 'full'))
  got = dict(full['lp/grail/fb237_v1_ind'])
  assert got.pop('ranked_with') != ultra.pop('ranked_with')
  assert got == ultra


@pytest.mark.parametrize('dataset', ['fb237_v1', 'WN18RR_v1'])
def test_pessimistic_ties_reproduce_ultra_exactly(data_root, ultra_3g,
                                                  tmp_path, dataset):
  """Where exact ties are rare, ULTRA's own rule gives its numbers to 4
  decimals."""
  _, mrr, hits1, hits10 = REFERENCE[dataset]
  got = _zero_shot(data_root, dataset, ultra_3g, tmp_path, 'pessimistic')
  assert (round(got['mrr'], 4), round(got['hits@1'], 4),
          round(got['hits@10'], 4)) == (mrr, hits1, hits10)


def test_training_from_scratch_beats_untrained(data_root, tmp_path):
  """A small ULTRA (32 dims, 4 layers) trained 50 steps of 8 queries on
  fb237_v1 with ULTRA's recipe transfers to fb237_v1_ind. Measured: MRR
  0.0073 untrained → 0.4563 trained (0.4577 after 100 steps); the loss
  falls from ~0.69."""
  config = ultra_zeroshot.get_config('dataset=fb237_v1')
  config.data.root = data_root
  config.model.dim = 32
  config.model.num_layers = 4
  config.train.num_steps = 50
  config.train.batch_size = 8
  config.train.num_negatives = 64
  config.train.log_every = 25
  config.train.checkpoint_every = 50
  untrained = config.copy_and_resolve_references()
  untrained.train.num_steps = 0
  before = train.train_and_evaluate(untrained, str(tmp_path / 'untrained'))
  after = train.train_and_evaluate(config, str(tmp_path / 'trained'))
  key = 'lp/grail/fb237_v1_ind'
  assert before[key]['mrr'] < 0.05
  assert after[key]['mrr'] > 0.3
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  events = event_accumulator.EventAccumulator(
      str(tmp_path / 'trained' / 'tensorboard'))
  events.Reload()
  loss = [e.value for e in events.Scalars('train/lp/grail/fb237_v1/loss')]
  assert np.mean(loss[-20:]) < np.mean(loss[:20]) - 0.05
