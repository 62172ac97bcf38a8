"""File readers: correct on good input, the project's error (file and line)
on any bad input, never a bare traceback."""

import json

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from mtaimkg_jax.data import features, formats
from mtaimkg_jax.errors import DataError

_FUZZ = hypothesis.settings(max_examples=150, deadline=None, derandomize=True,
                            suppress_health_check=[
                                hypothesis.HealthCheck.function_scoped_fixture
                            ])


def _write(tmp_path, name, content):
  path = tmp_path / name
  if isinstance(content, str):
    path.write_text(content, encoding='utf-8')
  else:
    path.write_bytes(content)
  return str(path)


def test_triples_good(tmp_path):
  path = _write(tmp_path, 't.txt', 'a\tr\tb\n\nc\ts\td\r\n')
  assert formats.read_triples(path) == [('a', 'r', 'b'), ('c', 's', 'd')]


@pytest.mark.parametrize('line,reason', [
    ('a\tb', 'expected 3 tab-separated fields'),
    ('a\tr\tb\tc', 'expected 3 tab-separated fields'),
    ('a\t\tb', 'field 2'),
    ('a \tr\tb', 'white space'),
])
def test_triples_malformed_line_names_file_and_line(tmp_path, line, reason):
  path = _write(tmp_path, 't.txt', f'x\ty\tz\n{line}\n')
  with pytest.raises(DataError, match=reason) as error:
    formats.read_triples(path)
  assert error.value.line == 2 and error.value.path == path
  assert f'{path}:2:' in str(error.value)


def test_byte_order_mark_is_dropped_by_every_reader(tmp_path):
  bom = '\ufeff'
  assert formats.read_triples(_write(tmp_path, 't.txt', f'{bom}a\tr\tb\n')
                              ) == [('a', 'r', 'b')]
  assert formats.read_text_table(_write(tmp_path, 'e.txt', f'{bom}a\tA\n')
                                 ) == {'a': 'A'}
  assert formats.read_id_table(_write(tmp_path, 'ids', f'{bom}7\tu\n')
                               ) == {7: 'u'}
  assert formats.read_string_map(_write(tmp_path, 'm.json', bom + '{"Q": "x"}')
                                 ) == {'Q': 'x'}
  assert formats.read_translated_names(
      _write(tmp_path, 'n.json', bom + '[[1, ["a"]]]')) == {1: 'a'}


def test_byte_order_mark_inside_a_file_names_the_line(tmp_path):
  path = _write(tmp_path, 't.txt', 'a\tr\tb\n\ufeffc\tr\tb\n')
  with pytest.raises(DataError, match='U\\+FEFF') as error:
    formats.read_triples(path)
  assert error.value.line == 2


def test_ids_beyond_int64_name_the_line(tmp_path):
  path = _write(tmp_path, 'ill', f'1\t2\n{2**63}\t3\n')
  with pytest.raises(DataError, match='64 bits') as error:
    formats.read_id_pairs(path)
  assert error.value.line == 2
  assert formats.read_id_pairs(_write(tmp_path, 'ok', f'{2**63 - 1}\t0\n')
                               )[0].tolist() == [[2**63 - 1, 0]]
  with pytest.raises(DataError, match='entry 0'):
    formats.read_translated_names(
        _write(tmp_path, 'n.json', f'[[{2**64}, []]]'))


def test_one_uri_under_two_ids_names_both_lines(tmp_path):
  path = _write(tmp_path, 'ent_ids_1', '0\thttp://x/A\n1\thttp://x/B\n'
                '2\thttp://x/A\n')
  with pytest.raises(DataError, match=r'two ids: 0 \(line 1\) and 2') as error:
    formats.read_id_table(path)
  assert error.value.line == 3


def test_json_key_twice_or_empty_file(tmp_path):
  path = _write(tmp_path, 'qid2ne.json', '{"Q1": "a", "Q2": "b", "Q1": "c"}')
  with pytest.raises(DataError, match="'Q1' appears twice"):
    formats.read_string_map(path)
  for content in ('', '\ufeff \n'):
    with pytest.raises(DataError, match='empty file'):
      formats.read_mentions(_write(tmp_path, 'train.json', content))


def test_missing_file(tmp_path):
  with pytest.raises(DataError, match='file not found'):
    formats.read_triples(str(tmp_path / 'nope.txt'))
  with pytest.raises(DataError, match='file not found'):
    formats.read_json(str(tmp_path / 'nope.json'))


def test_bad_utf8_names_line(tmp_path):
  path = _write(tmp_path, 't.txt', b'a\tr\tb\n\xff\tr\tb\n')
  with pytest.raises(DataError) as error:
    formats.read_triples(path)
  assert error.value.line == 2


def test_openea_ids(tmp_path):
  path = _write(tmp_path, 'triples_1', '1\t2\t3\n4\t5\t6\n')
  rows, lines = formats.read_id_triples(path)
  np.testing.assert_array_equal(rows, [[1, 2, 3], [4, 5, 6]])
  np.testing.assert_array_equal(lines, [1, 2])
  bad = _write(tmp_path, 'ill', '1\t2\n3\tx\n')
  with pytest.raises(DataError, match='integer') as error:
    formats.read_id_pairs(bad)
  assert error.value.line == 2


def test_same_as(tmp_path):
  path = _write(tmp_path, 's.txt',
                '/m/01 <SameAs> <http://dbpedia.org/resource/A_b> .\n')
  assert formats.read_same_as(path) == [('/m/01',
                                         'http://dbpedia.org/resource/A_b')]
  bad = _write(tmp_path, 'b.txt', '/m/01 <SameAs> <a> .\n/m/02 sameAs b\n')
  with pytest.raises(DataError) as error:
    formats.read_same_as(bad)
  assert error.value.line == 2


def test_mentions_never_keep_the_gold_name(tmp_path):
  path = _write(tmp_path, 'm.json', json.dumps({
      'Q1': {'id': 'Q1', 'sentence': 'S.', 'mentions': 'M',
             'entities': 'Gold Name', 'answer': 'Q1'}}))
  assert formats.read_mentions(path) == [
      {'sentence': 'S.', 'mentions': 'M', 'answer': 'Q1'}]


def test_translated_names(tmp_path):
  path = _write(tmp_path, 'n.json', '[[0, ["kim", "dae"]], [5, []]]')
  assert formats.read_translated_names(path) == {0: 'kim dae', 5: ''}
  bad = _write(tmp_path, 'b.json', '[[0, ["a"]], [1, "b"]]')
  with pytest.raises(DataError, match='entry 1'):
    formats.read_translated_names(bad)


def test_attribute_text():
  assert formats.parse_attribute_text(
      'Occupation: politician, farmer. Languages: English, English.') == [
          ('Occupation', 'politician'), ('Occupation', 'farmer'),
          ('Languages', 'English')]
  assert formats.parse_attribute_text('') == []


_LINE_TEXT = st.text(alphabet=st.characters(blacklist_categories=('Cs',)),
                     max_size=40)


@_FUZZ
@hypothesis.given(lines=st.lists(_LINE_TEXT, min_size=1, max_size=6))
def test_fuzz_triples(tmp_path, lines):
  path = _write(tmp_path, 'fuzz.txt', '\n'.join(lines))
  try:
    triples = formats.read_triples(path)
  except DataError as e:
    assert e.path == path and e.line is not None
    return
  # Accepted input is parsed exactly (a leading byte order mark dropped).
  expected = [tuple(l.rstrip('\r').split('\t')) for l in
              '\n'.join(lines).removeprefix('\ufeff').split('\n')
              if l.rstrip('\r').strip()]
  assert triples == expected


@_FUZZ
@hypothesis.given(raw=st.binary(max_size=80))
def test_fuzz_id_pairs_bytes(tmp_path, raw):
  path = _write(tmp_path, 'fuzz_ids', raw)
  try:
    rows, _ = formats.read_id_pairs(path)
  except DataError as e:
    assert e.path == path
    return
  assert rows.shape[1] == 2 and (rows >= 0).all()


_TOKEN = st.text(alphabet=st.characters(blacklist_categories=('Cs', 'Z', 'C'),
                                        blacklist_characters='<>'),
                 min_size=1, max_size=12)
_SAME_AS_LINE = st.one_of(
    st.builds(lambda a, b: f'{a} <SameAs> <{b}> .', _TOKEN, _TOKEN),
    st.builds(lambda a, b: f'<{a}>\t<SameAs>\t<{b}>', _TOKEN, _TOKEN),
    _LINE_TEXT)


@_FUZZ
@hypothesis.given(lines=st.lists(_SAME_AS_LINE, min_size=1, max_size=6))
def test_fuzz_same_as(tmp_path, lines):
  """Well-formed links parse to exactly their two sides; anything else is a
  DataError naming the file and the first bad line."""
  path = _write(tmp_path, 'same_as.txt', '\n'.join(lines))
  try:
    pairs = formats.read_same_as(path)
  except DataError as e:
    assert e.path == path and e.line is not None
    bad = '\n'.join(lines).split('\n')[e.line - 1]
    assert formats._SAME_AS.match(bad.rstrip('\r')) is None  # pylint: disable=protected-access
    return
  for pair in pairs:
    assert all(side and not set(side) & set('<> \t') for side in pair)
  wellformed = [l for l in '\n'.join(lines).split('\n') if l.strip()]
  assert len(pairs) == len(wellformed)


@_FUZZ
@hypothesis.given(rows=st.lists(st.tuples(
    st.integers(-3, 10**12) | st.text(max_size=4), _LINE_TEXT), max_size=6))
def test_fuzz_openea_id_table(tmp_path, rows):
  """`ent_ids_*`: an id must be a non-negative integer, once per file."""
  path = _write(tmp_path, 'ent_ids_1',
                '\n'.join(f'{ident}\t{uri}' for ident, uri in rows))
  try:
    table = formats.read_id_table(path)
  except DataError as e:
    assert e.path == path and e.line is not None
    return
  assert all(isinstance(k, int) and k >= 0 for k in table)
  assert len(table) == len([r for r in rows if f'{r[0]}\t{r[1]}'.strip()])


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(['sentence', 'mentions', 'answer', 'entities', 'id',
                         'x']), children, max_size=4), max_leaves=12)


@_FUZZ
@hypothesis.given(value=st.dictionaries(st.text(max_size=4), _JSON,
                                        max_size=4) | _JSON)
def test_fuzz_mentions_json(tmp_path, value):
  path = _write(tmp_path, 'fuzz.json', json.dumps(value))
  try:
    mentions = formats.read_mentions(path)
  except DataError as e:
    assert e.path == path
    return
  for m in mentions:
    assert set(m) == {'sentence', 'mentions', 'answer'}


@_FUZZ
@hypothesis.given(raw=st.binary(max_size=60))
def test_fuzz_json_bytes(tmp_path, raw):
  path = _write(tmp_path, 'fuzz_raw.json', raw)
  for reader in (formats.read_mentions, formats.read_string_map,
                 formats.read_translated_names):
    try:
      reader(path)
    except DataError as e:
      assert e.path == path


@_FUZZ
@hypothesis.given(
    shape=st.tuples(st.integers(0, 4), st.integers(0, 3)),
    fill=st.sampled_from([0.0, np.nan, np.inf, 1.5]),
    dtype=st.sampled_from(['float32', 'float64', 'int32', 'bool', 'U3']))
def test_fuzz_feature_npy(tmp_path, shape, fill, dtype):
  path = str(tmp_path / 'f.npy')
  try:
    array = np.full(shape, fill).astype(dtype)
  except (ValueError, OverflowError):
    return
  np.save(path, array)
  try:
    loaded = features.load_feature_matrix(path, 3)
  except DataError as e:
    assert e.path == path
    return
  assert loaded.values.shape[0] == 3 and np.isfinite(loaded.values).all()


def test_feature_npy_wrong_shape_names_both_shapes(tmp_path):
  path = str(tmp_path / 'f.npy')
  np.save(path, np.zeros((4, 2), np.float32))
  with pytest.raises(DataError, match=r'\(4, 2\).*\(5, d\)'):
    features.load_feature_matrix(path, 5)


def test_feature_npy_never_unpickles(tmp_path):
  path = str(tmp_path / 'f.npy')
  np.save(path, np.array([{'a': 1}], dtype=object), allow_pickle=True)
  with pytest.raises(DataError, match='not a numeric'):
    features.load_feature_matrix(path, 1)
