"""A table of malformed and suspicious inputs, each loaded through the public
entry point `loading.load_task` from small files written here: malformed
ones are a `DataError` naming the file (and line), legal but suspicious ones
load and are counted by the hygiene report."""

import dataclasses
import io
import logging
import os
from typing import Callable

import numpy as np
import pytest

from mtaimkg_jax import config_base
from mtaimkg_jax.data import hygiene, loading
from mtaimkg_jax.errors import ConfigError, DataError

BOM = '\ufeff'
HUGE = '1' * 30  # a 30-digit id: beyond int64


def _npy(array) -> bytes:
  buffer = io.BytesIO()
  np.save(buffer, np.asarray(array, np.float32))
  return buffer.getvalue()

LP = {
    'train.txt': 'a\tr\tb\nb\tr\tc\nc\ts\ta\nd\ts\ta\n',
    'valid.txt': 'a\ts\tc\n',
    'test.txt': 'b\ts\ta\n',
    'entity2text.txt': 'a\tAlpha\nb\tBeta\n',
}
EA = {
    'ent_ids_1': ''.join(f'{i}\thttp://x/{i}\n' for i in range(6)),
    'ent_ids_2': ''.join(f'{i}\thttp://y/{i}\n' for i in range(10, 16)),
    'triples_1': '0\t0\t1\n1\t0\t2\n3\t1\t4\n4\t1\t5\n',
    'triples_2': '10\t7\t11\n11\t7\t12\n13\t8\t14\n14\t8\t15\n',
    'ill_ent_ids': ''.join(f'{i}\t{i + 10}\n' for i in range(6)),
}


def _mention(text, answer):
  return f'{{"sentence": "{text} spoke.", "mentions": "{text}", "answer": ' \
         f'"{answer}"}}'


EL = {
    'qid2ne.json': '{"Q1": "Alpha", "Q2": "Beta", "Q3": "Gamma"}',
    'qid2abs.json': '{"Q1": "Occupation: politician.", '
                    '"Q2": "Occupation: farmer."}',
    'train.json': f'[{_mention("Al", "Q1")}, {_mention("Be", "Q2")}]',
    'test.json': f'[{_mention("Ga", "Q3")}, {_mention("A.", "Q1")}]',
}
DEFAULTS = {'lp': LP, 'ea': EA, 'el': EL}


@dataclasses.dataclass(frozen=True)
class Case:
  """`files` replace the defaults of the task's small dataset (`config`:
  (key, value) overrides); the outcome is an error in `file` (at `line`)
  matching `error`, or the hygiene `counts`, or `check(task)` holding."""
  name: str
  task: str
  files: dict
  file: str | None = None
  line: int | None = None
  error: str = ''
  counts: dict | None = None
  check: Callable | None = None
  dataset: str = ''
  config: tuple = ()


CASES = [
    # A byte order mark at a file's start is dropped by every reader.
    Case('bom_train_txt', 'lp', {'train.txt': BOM + LP['train.txt']},
         check=lambda t: t.kg.entities.tokens == ['a', 'b', 'c', 'd']),
    Case('bom_entity2text', 'lp',
         {'entity2text.txt': BOM + LP['entity2text.txt']},
         check=lambda t: t.kg.names[:2] == ['Alpha', 'Beta']),
    Case('bom_qid2ne_json', 'el', {'qid2ne.json': BOM + EL['qid2ne.json']},
         check=lambda t: t.kb.names[:3] == ['Alpha', 'Beta', 'Gamma']),
    Case('bom_ill_ent_ids', 'ea', {'ill_ent_ids': BOM + EA['ill_ent_ids']},
         check=lambda t: len(t.train_pairs) + len(t.test_pairs) == 6),
    Case('bom_mid_file', 'lp', {'test.txt': 'b\ts\ta\n' + BOM + 'a\ts\tc\n'},
         file='test.txt', line=2, error='U\\+FEFF'),
    # Empty required files (more in `EMPTY`), and an optional one.
    Case('empty_valid_txt_inductive', 'lp', {'valid.txt': ''},
         dataset='lp/mine_ind',
         check=lambda t: len(t.kg.triples['valid']) == 0),
    Case('zero_byte_el_test_json', 'el', {'test.json': ''}, file='test.json',
         error='empty file'),
    # Ids beyond int64, in every OpenEA id file.
    Case('huge_id_ill_ent_ids', 'ea',
         {'ill_ent_ids': f'0\t10\n{HUGE}\t11\n'}, file='ill_ent_ids', line=2,
         error='does not fit in 64 bits'),
    Case('huge_id_ent_ids', 'ea', {'ent_ids_2': EA['ent_ids_2'] +
                                   f'{HUGE}\thttp://y/huge\n'},
         file='ent_ids_2', line=7, error='does not fit in 64 bits'),
    Case('huge_id_triples', 'ea', {'triples_1': f'0\t{HUGE}\t1\n'},
         file='triples_1', line=1, error='does not fit in 64 bits'),
    # One URI under two ids.
    Case('uri_under_two_ids', 'ea',
         {'ent_ids_1': EA['ent_ids_1'] + '6\thttp://x/2\n'}, file='ent_ids_1',
         line=7, error=r'two ids: 2 \(line 3\) and 6'),
    # Too few pairs or mentions for the splits the config asks for.
    Case('ea_too_few_pairs', 'ea', {'ill_ent_ids': '0\t10\n'},
         file='ill_ent_ids', error='leave 0 seeds.*too few pairs'),
    Case('ea_too_few_pairs_to_validate', 'ea', {},
         config=(('ea.valid_fraction', 0.1),), file='ill_ent_ids',
         error='0 validation'),
    Case('el_too_few_mentions_to_validate', 'el', {},
         config=(('el.valid_fraction', 0.1),), file='train.json',
         error='0 validation mentions'),
    # Other malformed JSON and KB text.
    Case('json_key_twice', 'el',
         {'qid2ne.json': '{"Q1": "A", "Q2": "B", "Q3": "C", "Q1": "D"}'},
         file='qid2ne.json', error="'Q1' appears twice"),
    Case('attribute_value_is_a_qid', 'el',
         {'qid2ne.json': '{"Q1": "A", "Q2": "B", "Q3": "C", "Job: x": "D"}',
          'qid2abs.json': '{"Q1": "Job: x."}'},
         file='qid2abs.json', error='also an entity of qid2ne.json'),
    # Legal but suspicious: loads, and the hygiene report counts it.
    Case('ea_pair_twice', 'ea', {'ill_ent_ids': EA['ill_ent_ids'] + '2\t12\n'},
         counts={'source_duplicate_pairs': 1, 'duplicate_pairs': 0,
                 'test_pairs_in_seeds': 0}),
    Case('ea_one_entity_aligned_to_two', 'ea',
         {'ill_ent_ids': EA['ill_ent_ids'] + '2\t15\n'},
         counts={'one_to_many_entities': 2, 'source_duplicate_pairs': 0}),
    Case('lp_test_triple_copied_from_train', 'lp',
         {'test.txt': 'b\ts\ta\nc\ts\ta\n'},
         counts={'test_triples_in_train': 1, 'valid_triples_in_train': 0}),
    Case('lp_test_entity_unseen_in_train', 'lp',
         {'test.txt': 'b\ts\ta\nz\ts\ta\n'},
         counts={'test_unseen_entities': 1, 'test_unseen_relations': 0}),
    Case('lp_test_relation_unseen_in_train', 'lp', {'test.txt': 'b\tq\ta\n'},
         counts={'test_unseen_relations': 1, 'test_unseen_entities': 0}),
    Case('lp_duplicate_triples', 'lp',
         {'train.txt': LP['train.txt'] + 'a\tr\tb\n',
          'test.txt': 'b\ts\ta\nb\ts\ta\n'},
         counts={'train_duplicate_triples': 1, 'test_duplicate_triples': 1}),
    Case('lp_test_triple_also_valid', 'lp', {'test.txt': 'a\ts\tc\n'},
         counts={'test_triples_in_valid': 1}),
    Case('el_test_mention_copied_from_train', 'el',
         {'test.json': f'[{_mention("Al", "Q1")}, {_mention("Be", "Q3")}]'},
         counts={'test_mentions_in_train': 1, 'test_conflicting_mentions': 1}),
]

CASES += [
    # A number Python's JSON reader refuses (over 4300 digits).
    Case('el_5001_digit_number', 'el',
         {'train.json': f'[{_mention("Al", "Q1")[:-1]}, "id": '
                        f'{"1" * 5001}}}]'},
         file='train.json', error='unreadable JSON value'),
    # Control characters in ids: damage, never part of a name.
    Case('nul_in_lp_id', 'lp', {'train.txt': 'a\x00\tr\tb\n' + LP['train.txt']},
         file='train.txt', line=1, error='U\\+0000'),
    Case('escape_in_ea_uri', 'ea', {'ent_ids_1': EA['ent_ids_1'] +
                                    '6\thttp://x/\x1b[31m6\n'},
         file='ent_ids_1', line=7, error='U\\+001B'),
    Case('control_in_el_qid', 'el',
         {'qid2ne.json': '{"Q1": "A", "Q2": "B", "Q3": "C", "Q\\u00074": "D"}'},
         file='qid2ne.json', error='U\\+0007'),
    # Optional files that give no entity a value: refused, naming the file
    # (more in `COVERS_NOTHING`).
    Case('image_features_all_nan', 'lp',
         {'image_features.npy': _npy(np.full((4, 3), np.nan))},
         file='image_features.npy', error='every row is all NaN'),
    Case('image_rows_of_no_entity', 'lp',
         {'image_features.npy': _npy([[1, 2], [3, 4]]),
          'image_features.txt': 'x\ny\n'},
         file='image_features.txt', line=1, error="unknown entity 'x'"),
    Case('el_attribute_text_parses_to_nothing', 'el',
         {'qid2abs.json': '{"Q1": "a politician", "Q2": ""}'},
         file='qid2abs.json', error='no attribute text parses'),
]

# Optional files keyed by ids the graph does not use: (task, file, content,
# error).
COVERS_NOTHING = (
    ('lp', 'entity2text.txt', 'x\tAlpha\ny\tBeta\n',
     'gives none of the graph\'s 4 entities'),
    ('lp', 'relation2text.txt', 'q\tQueue\n',
     'gives none of the graph\'s 2 relations'),
    ('ea', 'translated_ent_name.json', '[[100, ["x"]], [101, ["y"]]]',
     'gives none of the graph\'s 12 entities'))
CASES += [Case(f'{file}_covers_nothing', task, {file: content}, file=file,
               error=error) for task, file, content, error in COVERS_NOTHING]

# Required files that hold nothing: (task, file, content, what it lacks).
EMPTY = (('lp', 'train.txt', '', 'triples'),
         ('lp', 'test.txt', '\n\n', 'triples'),
         ('lp', 'valid.txt', '', 'triples'),
         ('ea', 'ill_ent_ids', '', 'pairs'),
         ('ea', 'ent_ids_1', '', 'entities'),
         ('ea', 'triples_2', '', 'triples'),
         ('el', 'train.json', '[]', 'mentions'),
         ('el', 'test.json', '{}', 'mentions'),
         ('el', 'qid2ne.json', '{}', 'entities'))
CASES += [Case(f'empty_{file}_{task}', task, {file: content}, file=file,
               error=f'holds no {lacks}')
          for task, file, content, lacks in EMPTY]


def _config(root):
  config = config_base.base_config()
  config.data.root = str(root)
  return config


def _write(root, task, dataset, files):
  directory = root / dataset
  directory.mkdir(parents=True)
  for name, content in {**DEFAULTS[task], **files}.items():
    if isinstance(content, bytes):
      (directory / name).write_bytes(content)
    else:
      (directory / name).write_text(content, encoding='utf-8')
  return directory


def _load(root, task, dataset, overrides=()):
  config = _config(root)
  for key, value in overrides:
    section, name = key.split('.')
    config[section][name] = value
  return loading.load_task(config, loading.TaskSpec(task, dataset, 1.0))


@pytest.mark.parametrize('case', CASES, ids=[c.name for c in CASES])
def test_malformed_input(tmp_path, case):
  dataset = case.dataset or f'{case.task}/mine'
  directory = _write(tmp_path, case.task, dataset, case.files)
  if case.error:
    with pytest.raises(DataError, match=case.error) as error:
      _load(tmp_path, case.task, dataset, case.config)
    assert error.value.path == os.path.join(directory, case.file)
    assert error.value.line == case.line
    where = error.value.path + (f':{case.line}' if case.line else '')
    assert str(error.value).startswith(f'{where}: ')
    return
  task = _load(tmp_path, case.task, dataset, case.config)
  if case.check is not None:
    assert case.check(task)
  report = hygiene.report([task])
  assert list(report) == [dataset]
  if case.counts is not None:
    got = report[dataset]
    assert {k: got[k] for k in case.counts} == case.counts
    warnings = hygiene.enforce(report)
    for check, n in case.counts.items():
      assert (f'{dataset}: {check} = {n} ' in ' '.join(warnings)) == (n > 0)
    with pytest.raises(DataError, match=next(
        k for k, n in case.counts.items() if n)) as error:
      hygiene.enforce(report, strict=True)
    assert error.value.path == dataset
  else:
    assert hygiene.enforce(report, strict=True) == []


@pytest.mark.parametrize('seed', range(8))
def test_a_pair_listed_twice_is_never_both_seed_and_test(tmp_path, seed):
  """Every pair listed twice: before deduplication some seeds would also be
  test queries (same_as edges of the graph); now none is."""
  _write(tmp_path, 'ea', 'ea/mine', {'ill_ent_ids': EA['ill_ent_ids'] * 2})
  config = _config(tmp_path)
  config.seed = seed
  config.ea.train_ratio = 0.5
  task = loading.load_task(config, loading.TaskSpec('ea', 'ea/mine', 1.0))
  counts = hygiene.ea_counts(task)
  assert counts['source_duplicate_pairs'] == 6
  assert counts['test_pairs_in_seeds'] == 0
  pairs = np.concatenate([task.train_pairs, task.test_pairs])
  assert sorted(map(tuple, pairs.tolist())) == [(i, i) for i in range(6)]


def test_a_same_as_link_listed_twice_is_counted(tmp_path):
  """MMKB `same_as.txt` joining two lp/ graphs: an exact repeat is dropped
  and counted; a BOM at the start of `graphs.txt` is dropped."""
  for name in ('lp/g1', 'lp/g2'):
    _write(tmp_path, 'lp', name, {})
  directory = tmp_path / 'ea' / 'links'
  directory.mkdir(parents=True)
  (directory / 'graphs.txt').write_text(f'{BOM}lp/g1\nlp/g2\n')
  (directory / 'same_as.txt').write_text(''.join(
      f'{x} <SameAs> <{y}> .\n' for x, y in
      [('a', 'b'), ('b', 'c'), ('a', 'b'), ('c', 'a'), ('d', 'd')]))
  task = _load(tmp_path, 'ea', 'ea/links')
  counts = hygiene.ea_counts(task)
  assert counts['source_duplicate_pairs'] == 1
  assert counts['test_pairs_in_seeds'] == counts['one_to_many_entities'] == 0
  assert len(task.train_pairs) + len(task.test_pairs) == 4


def _graph(root, strict=False):
  config = _config(root)
  config.data.strict = strict
  config.features.text_encoder = 'hashing64'
  config.features.k = 4
  return loading.load_graph(config, loading.TaskSpec('lp', 'lp/mine', 1.0))


def test_coverage_is_reported_low_coverage_warned_and_strict_refuses(
    tmp_path, caplog):
  """entity2text naming 1 of the 4 entities, images for 3 of them: the
  report counts each modality's nodes and each file; under half is a
  warning naming the file, an error under data.strict."""
  directory = _write(tmp_path, 'lp', 'lp/mine', {
      'entity2text.txt': 'a\tAlpha\n',
      'image_features.npy': _npy([[1, 2], [3, 4], [5, 7], [np.nan, np.nan]])})
  with caplog.at_level(logging.INFO):
    graph = _graph(tmp_path)
  text_file = str(directory / 'entity2text.txt')
  coverage = graph.hygiene['coverage']
  assert coverage['nodes'] == 4
  assert coverage['with_value']['image'] == 3
  assert coverage['files'] == {
      text_file: {'with_value': 1, 'of': 4},
      str(directory / 'image_features.npy'): {'with_value': 3, 'of': 4}}
  assert f'{text_file}: gives a value to only 1 of the 4' in caplog.text
  assert "'image': '3/4'" in caplog.text  # the log line of the graph
  with pytest.raises(DataError, match='refused under data.strict') as error:
    _graph(tmp_path, strict=True)
  assert error.value.path == text_file


def test_a_cache_dir_that_is_a_file_is_a_config_error(tmp_path):
  from mtaimkg_jax import config_check  # pylint: disable=g-import-not-at-top
  blocker = tmp_path / 'a_file'
  blocker.write_text('')
  for cache_dir in (blocker, blocker / 'below'):
    config = config_base.base_config()
    config.data.cache_dir = str(cache_dir)
    with pytest.raises(ConfigError, match=f'config.data.cache_dir: .*'
                       f'{blocker}.* is a file'):
      config_check.validate(config)


def test_ea_seeds_under_half_a_batch_are_a_config_error(tmp_path):
  """6 pairs at ea.train_ratio 0.3 leave 2 seeds, 2 training queries, for
  batches of 8: refused naming the key and the dataset before the run
  writes anything (it used to be an IndexError in batching)."""
  from configs import test as test_config  # pylint: disable=g-import-not-at-top
  from mtaimkg_jax import train  # pylint: disable=g-import-not-at-top
  _write(tmp_path, 'ea', 'ea/mine', {})
  config = test_config.get_config()
  config.data.root = str(tmp_path)
  config.features.text_encoder = 'hashing64'
  config.tasks = (('ea', 'ea/mine', 1.0),)
  workdir = tmp_path / 'run'
  with pytest.raises(ConfigError, match='config.train.batch_size: ea/mine has '
                     '2 training queries, fewer than half a batch of 8'):
    train.train_and_evaluate(config, str(workdir))
  assert not list(workdir.iterdir())
