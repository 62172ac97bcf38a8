"""tfds builders (array_record, no TensorFlow) read back equal to the direct
readers, for one dataset of each task and the synthetic sets."""

import numpy as np
import pytest

from mtaimkg_jax.data import datasets, synthetic, tfds_builders
from mtaimkg_jax.data.mmkg import EATask, ELTask, LPTask, MMKG


def _assert_kg_equal(a: MMKG, b: MMKG):
  assert a.entities.tokens == b.entities.tokens
  assert a.relations.tokens == b.relations.tokens
  assert a.names == b.names and a.texts == b.texts
  assert set(a.triples) == set(b.triples)
  for split in a.triples:
    np.testing.assert_array_equal(a.triples[split], b.triples[split])
  assert set(a.features) == set(b.features)
  for modality in a.features:
    np.testing.assert_array_equal(a.features[modality].values,
                                  b.features[modality].values)
    np.testing.assert_array_equal(a.features[modality].present,
                                  b.features[modality].present)


def _assert_task_equal(a, b):
  assert type(a) is type(b) and a.key == b.key
  if isinstance(a, LPTask):
    _assert_kg_equal(a.kg, b.kg)
    assert (a.fact_splits, a.train_split, dict(a.eval_splits)) == (
        b.fact_splits, b.train_split, dict(b.eval_splits))
  elif isinstance(a, EATask):
    _assert_kg_equal(a.kg1, b.kg1)
    _assert_kg_equal(a.kg2, b.kg2)
    for split in ('train', 'valid', 'test'):
      np.testing.assert_array_equal(getattr(a, f'{split}_pairs'),
                                    getattr(b, f'{split}_pairs'))
  else:
    assert isinstance(a, ELTask)
    _assert_kg_equal(a.kb, b.kb)
    np.testing.assert_array_equal(a.candidates, b.candidates)
    assert set(a.mentions) == set(b.mentions)
    for split, mentions in a.mentions.items():
      assert mentions.texts == b.mentions[split].texts
      np.testing.assert_array_equal(mentions.answers,
                                    b.mentions[split].answers)
      for modality, f in mentions.features.items():
        np.testing.assert_array_equal(
            f.values, b.mentions[split].features[modality].values)


@pytest.mark.parametrize('dataset,direct', [
    ('lp/grail/fb237_v1_ind',
     lambda root: datasets.load_lp_task(root, 'lp/grail/fb237_v1_ind')),
    ('ea/DBP15K/zh_en',
     lambda root: datasets.load_ea_task(root, 'ea/DBP15K/zh_en', 0.3, 0)),
    ('el/RichpediaMEL',
     lambda root: datasets.load_el_task(root, 'el/RichpediaMEL')),
])
def test_real_datasets_round_trip(data_root, tmp_path, dataset, direct):
  builder = tfds_builders.build(dataset, str(tmp_path), root=data_root)
  _assert_task_equal(direct(data_root), tfds_builders.load_task(builder))


@pytest.mark.parametrize('dataset', ['lp/synthetic', 'ea/synthetic',
                                     'el/synthetic'])
def test_synthetic_round_trip(tmp_path, dataset):
  builder = tfds_builders.build(dataset, str(tmp_path))
  expected = synthetic.make_synthetic(synthetic.SyntheticSpec())[dataset]
  _assert_task_equal(expected, tfds_builders.load_task(builder))
