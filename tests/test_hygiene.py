"""Data hygiene counts on hand-built task containers, the warnings and the
strict refusal, and the counts of the shipped benchmarks."""

import json
import logging

import numpy as np
import pytest

from mtaimkg_jax.data import datasets, hygiene, synthetic
from mtaimkg_jax.data.mmkg import (EATask, ELTask, LPTask, MMKG, Features,
                                   Mentions, Vocab)
from mtaimkg_jax.errors import DataError


def _kg(triples, num_entities=6, num_relations=3):
  return MMKG(name='g', entities=Vocab([f'e{i}' for i in range(num_entities)]),
              relations=Vocab([f'r{i}' for i in range(num_relations)]),
              triples={s: np.asarray(t, np.int64).reshape(-1, 3)
                       for s, t in triples.items()},
              names=[''] * num_entities, texts=[''] * num_entities)


def test_lp_counts_overlap_duplicates_and_unseen():
  kg = _kg({'train': [[0, 0, 1], [1, 0, 2], [0, 0, 1]],
            'valid': [[2, 1, 3], [1, 0, 2]],
            'test': [[2, 1, 3], [4, 2, 5], [0, 0, 1]]})
  assert hygiene.lp_counts(LPTask(key='lp/x', kg=kg)) == {
      'train_duplicate_triples': 1, 'valid_duplicate_triples': 0,
      'test_duplicate_triples': 0,
      'valid_triples_in_train': 1, 'valid_unseen_entities': 1,
      'valid_unseen_relations': 1,
      'test_triples_in_train': 1, 'test_triples_in_valid': 1,
      'test_unseen_entities': 3, 'test_unseen_relations': 2}


def test_lp_counts_follow_the_inductive_protocol():
  """GraIL `_ind`: fact graph = train, both valid and test are queries."""
  kg = _kg({'train': [[0, 0, 1]], 'valid': [[0, 0, 1]], 'test': [[1, 0, 0]]})
  task = datasets.lp_task(kg, 'lp/x_ind')
  got = hygiene.lp_counts(task)
  assert got['valid_triples_in_train'] == 1
  assert got['test_triples_in_train'] == 0 and got['test_triples_in_valid'] == 0


def _ea(train, test, valid=(), duplicates=0):
  kg = _kg({'train': [[0, 0, 1]]})
  pairs = [np.asarray(p, np.int64).reshape(-1, 2) for p in (train, test, valid)]
  return EATask(key='ea/x', kg1=kg, kg2=kg, train_pairs=pairs[0],
                test_pairs=pairs[1], valid_pairs=pairs[2],
                source_duplicates=duplicates)


def test_ea_counts_leakage_repeats_and_one_to_many():
  got = hygiene.ea_counts(_ea(train=[[0, 0], [1, 1]],
                              test=[[1, 1], [2, 2], [2, 3], [4, 3], [2, 2]],
                              valid=[[5, 5]], duplicates=2))
  assert got == {'source_duplicate_pairs': 2, 'duplicate_pairs': 1,
                 'test_pairs_in_seeds': 1, 'valid_pairs_in_seeds': 0,
                 'test_pairs_in_valid': 0, 'one_to_many_entities': 2}
  assert set(hygiene.ea_counts(_ea([[0, 0]], [[1, 1]])).values()) == {0}


def test_el_counts_repeats_leaks_and_conflicts():
  def mentions(texts, answers, image=None):
    features = {} if image is None else {'image': Features(
        np.asarray(image, np.float32).reshape(-1, 1),
        np.ones(len(texts), bool))}
    return Mentions(texts=texts, answers=np.asarray(answers, np.int64),
                    features=features)

  task = ELTask(key='el/x', kb=_kg({'train': [[0, 0, 1]]}), mentions={
      'train': mentions(['a', 'b', 'a'], [0, 1, 0]),
      'test': mentions(['a', 'b', 'c', 'c'], [0, 2, 3, 3])},
                candidates=np.ones(6, bool))
  assert hygiene.el_counts(task) == {
      'train_duplicate_mentions': 1, 'test_duplicate_mentions': 1,
      'test_mentions_in_train': 1, 'test_conflicting_mentions': 1}
  # Same text, own features that differ: different mentions.
  task.mentions = {'train': mentions(['a', 'a'], [0, 0], image=[1, 2]),
                   'test': mentions(['a'], [0], image=[3])}
  assert set(hygiene.el_counts(task).values()) == {0}


def test_the_synthetic_default_is_clean():
  report = hygiene.report(synthetic.make_synthetic(
      synthetic.SyntheticSpec()).values())
  assert set(report) == {'lp/synthetic', 'ea/synthetic', 'el/synthetic'}
  assert all(n == 0 for checks in report.values() for n in checks.values())
  assert hygiene.enforce(report, strict=True) == []


def test_enforce_warns_per_count_and_strict_names_dataset_and_check(caplog):
  report = hygiene.report([_ea([[0, 0]], [[0, 0], [1, 1]], duplicates=1)])
  json.dumps(report)  # plain ints: data_report.json
  report['lp/y'] = {'test_triples_in_train': 3, 'test_unseen_entities': 0}
  with caplog.at_level(logging.WARNING):
    warnings = hygiene.enforce(report)
  assert warnings == [
      'ea/x: source_duplicate_pairs = 1 (pairs the source lists more than '
      'once, dropped before the split)',
      'ea/x: test_pairs_in_seeds = 1 (test pairs that are also seeds, i.e. '
      'same_as edges of the graph: leakage)',
      'lp/y: test_triples_in_train = 3 (triples of test also in train)']
  assert [r.getMessage() for r in caplog.records] == warnings
  with pytest.raises(DataError) as error:
    hygiene.enforce(report, strict=True)
  assert error.value.path == 'ea/x'
  message = str(error.value)
  assert message.startswith('ea/x: source_duplicate_pairs = 1')
  assert 'lp/y: test_triples_in_train = 3' in message
  assert 'data.strict' in message


def test_describe_every_check_name():
  names = set()
  for task in synthetic.make_synthetic(synthetic.SyntheticSpec()).values():
    names |= set(hygiene.counts(task))
  for name in names:
    assert hygiene.describe(name) != name


def test_shipped_benchmarks(data_root):
  """The real files load with these counts: DB15K's valid split mostly
  repeats train (a property of that release), transductive splits name a
  few entities train never uses, GraIL's inductive graphs are clean."""
  db15k = hygiene.lp_counts(datasets.load_lp_task(data_root, 'lp/DB15K'))
  assert db15k['valid_triples_in_train'] == 8719
  assert db15k['test_triples_in_train'] == 0
  fb = hygiene.lp_counts(datasets.load_lp_task(data_root, 'lp/FB15k-237'))
  assert (fb['valid_unseen_entities'], fb['test_unseen_entities']) == (8, 29)
  grail = hygiene.lp_counts(datasets.load_lp_task(data_root,
                                                  'lp/grail/fb237_v1_ind'))
  assert set(grail.values()) == {0}
  ea = hygiene.ea_counts(datasets.load_ea_task(data_root, 'ea/DBP15K/zh_en'))
  assert set(ea.values()) == {0}
  el = hygiene.el_counts(datasets.load_el_task(data_root, 'el/RichpediaMEL'))
  assert el == {'train_duplicate_mentions': 0, 'test_duplicate_mentions': 0,
                'test_mentions_in_train': 0, 'test_conflicting_mentions': 19}
