"""Readers for the plain file formats of MMKG benchmarks.

Each reader returns plain Python/numpy values and raises `DataError` naming
the file and line (or JSON entry) of anything malformed: ids beyond int64,
a JSON key twice, a byte order mark inside a text file, a control character
(NUL, escape, ...) in an id. A byte order mark at
a file's start is dropped, in every reader. Nothing here knows about tasks
or models; `datasets.py` assembles these pieces into an MMKG.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Iterator

import numpy as np

from mtaimkg_jax.errors import DataError

PathLike = str | os.PathLike


_BOM = '\ufeff'
# The largest id an int64 array holds.
MAX_ID = 2**63 - 1


def _read_bytes(path: PathLike) -> bytes:
  """The whole file without a leading UTF-8 byte order mark (editors on
  Windows write one; it would otherwise join the first token); a missing
  path or a directory raises `DataError`."""
  try:
    with open(path, 'rb') as f:
      raw = f.read()
  except FileNotFoundError:
    raise DataError(path, 'file not found') from None
  except IsADirectoryError:
    raise DataError(path, 'is a directory, expected a file') from None
  return raw.removeprefix(_BOM.encode('utf-8'))


def _lines(path: PathLike) -> Iterator[tuple[int, str]]:
  """Yields (1-based line number, line without newline), skipping blanks.

  A byte order mark anywhere but the file's start (files concatenated) is
  refused: it would silently become part of a token.
  """
  raw = _read_bytes(path)
  for number, line in enumerate(raw.split(b'\n'), start=1):
    try:
      text = line.decode('utf-8')
    except UnicodeDecodeError as e:
      raise DataError(path, f'not valid UTF-8 ({e.reason})', number) from None
    if _BOM in text:
      raise DataError(path, 'byte order mark (U+FEFF) inside the file, not at '
                      'its start (were files concatenated?)', number)
    text = text.rstrip('\r')
    if text.strip():
      yield number, text


def read_lines(path: PathLike) -> list[tuple[int, str]]:
  """Non-blank lines with their 1-based numbers (`graphs.txt`, ...)."""
  return list(_lines(path))


def require_rows(path: PathLike, rows, what: str) -> None:
  """Raises `DataError` when a required file gave no `what` (it is empty,
  or holds only blank lines / an empty JSON container)."""
  if not len(rows):
    raise DataError(path, f'holds no {what}: the file is empty, and it is '
                    'required')


# C0 control characters (NUL, ESC, ...) but the tab the formats split on.
_CONTROL = re.compile('[\x00-\x08\x0a-\x1f]')


def _check_controls(path: PathLike, text: str, what: str,
                   line: int | None = None) -> None:
  """Raises `DataError` when `text` (an id) holds a control character: a
  NUL or an escape sequence is damage, never part of a name."""
  found = _CONTROL.search(text)
  if found:
    raise DataError(path, f'{what} holds the control character '
                    f'U+{ord(found.group()):04X}: {text[:200]!r}', line)


def _fields(path: PathLike, number: int, line: str, count: int,
            what: str) -> list[str]:
  fields = line.split('\t')
  if len(fields) != count:
    raise DataError(
        path, f'expected {count} tab-separated fields ({what}), '
        f'found {len(fields)}: {line[:200]!r}', number)
  for i, field in enumerate(fields):
    if not field.strip():
      raise DataError(path, f'field {i + 1} ({what}) is empty', number)
    if field != field.strip():
      raise DataError(path, f'field {i + 1} has surrounding white space',
                      number)
    _check_controls(path, field, f'field {i + 1} ({what})', number)
  return fields


def _int(path: PathLike, number: int, text: str) -> int:
  if not re.fullmatch(r'[0-9]+', text):
    raise DataError(path, f'expected a non-negative integer id, got {text!r}',
                    number)
  value = int(text)
  if value > MAX_ID:
    raise DataError(path, f'id {text[:40]} does not fit in 64 bits (at most '
                    f'{MAX_ID})', number)
  return value


def read_triples(path: PathLike) -> list[tuple[str, str, str]]:
  """`head<TAB>relation<TAB>tail` per line."""
  return [tuple(_fields(path, n, line, 3, 'head, relation, tail'))
          for n, line in _lines(path)]


def read_pairs(path: PathLike) -> list[tuple[str, str]]:
  """Two tab-separated columns per line (entity2text, ent_links, ...)."""
  return [tuple(_fields(path, n, line, 2, 'key, value'))
          for n, line in _lines(path)]


def read_text_table(path: PathLike) -> dict[str, str]:
  """`key<TAB>text` per line; a key may appear once."""
  table: dict[str, str] = {}
  for n, line in _lines(path):
    key, value = _fields(path, n, line, 2, 'key, text')
    if key in table:
      raise DataError(path, f'key {key!r} appears twice', n)
    table[key] = value
  return table


def read_id_table(path: PathLike) -> dict[int, str]:
  """OpenEA `ent_ids_*`: `id<TAB>URI` per line; an id, and a URI, once."""
  table: dict[int, str] = {}
  first_line: dict[str, tuple[int, int]] = {}
  for n, line in _lines(path):
    ident, uri = _fields(path, n, line, 2, 'id, URI')
    key = _int(path, n, ident)
    if key in table:
      raise DataError(path, f'id {key} appears twice', n)
    if uri in first_line:
      other, where = first_line[uri]
      raise DataError(path, f'URI {uri[:200]!r} has two ids: {other} (line '
                      f'{where}) and {key}', n)
    table[key] = uri
    first_line[uri] = (key, n)
  return table


def _id_rows(path: PathLike, count: int,
             what: str) -> tuple[np.ndarray, np.ndarray]:
  rows, numbers = [], []
  for n, line in _lines(path):
    rows.append([_int(path, n, f) for f in _fields(path, n, line, count, what)])
    numbers.append(n)
  return (np.asarray(rows, np.int64).reshape(-1, count),
          np.asarray(numbers, np.int64))


def read_id_triples(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
  """OpenEA `triples_*`: `h_id<TAB>r_id<TAB>t_id`.

  Returns int64 rows [n, 3] and their 1-based line numbers [n].
  """
  return _id_rows(path, 3, 'h, r, t')


def read_id_pairs(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
  """OpenEA `ill_ent_ids`: `id1<TAB>id2`; rows [n, 2] and line numbers."""
  return _id_rows(path, 2, 'id1, id2')


_SAME_AS = re.compile(r'^<?([^<>\s]+)>?\s+<SameAs>\s+<?([^<>\s]+)>?\s*\.?\s*$')


def read_same_as(path: PathLike) -> list[tuple[str, str]]:
  """MMKB links: `/m/xxx <SameAs> <http://dbpedia.org/resource/Y> .`"""
  pairs = []
  for n, line in _lines(path):
    match = _SAME_AS.match(line)
    if match is None:
      raise DataError(
          path, f'expected "<left> <SameAs> <right> .", got {line[:200]!r}', n)
    _check_controls(path, line, 'the link', n)
    pairs.append((match.group(1), match.group(2)))
  return pairs


class _DuplicateKey(Exception):
  """A JSON object names a key twice (raised from inside `json.loads`)."""


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
  """A JSON object whose keys are distinct (`json` keeps the last silently)."""
  obj = dict(pairs)
  if len(obj) != len(pairs):
    seen = set()
    for key, _ in pairs:
      if key in seen:
        raise _DuplicateKey(key)
      seen.add(key)
  return obj


def read_json(path: PathLike) -> Any:
  """A JSON file; an object with a key twice is an error naming the key."""
  raw = _read_bytes(path)
  if not raw.strip():
    raise DataError(path, 'empty file, expected JSON')
  try:
    return json.loads(raw.decode('utf-8'), object_pairs_hook=_unique_object)
  except _DuplicateKey as e:
    raise DataError(path, f'entry {str(e.args[0])[:200]!r} appears twice in '
                    'one JSON object') from None
  except UnicodeDecodeError as e:
    line = raw[:e.start].count(b'\n') + 1
    raise DataError(path, f'not valid UTF-8 ({e.reason})', line) from None
  except json.JSONDecodeError as e:
    raise DataError(path, f'invalid JSON: {e.msg} (column {e.colno})',
                    e.lineno) from None
  except ValueError as e:  # e.g. a number of more than 4300 digits
    raise DataError(path, f'unreadable JSON value ({str(e)[:200]})') from None
  except RecursionError:
    raise DataError(path, 'JSON nested too deeply') from None


def read_translated_names(path: PathLike) -> dict[int, str]:
  """MCLEA `translated_ent_name.json`: `[[id, [tokens...]], ...]`."""
  data = read_json(path)
  if not isinstance(data, list):
    raise DataError(path, f'expected a JSON list, got {type(data).__name__}')
  names: dict[int, str] = {}
  for i, entry in enumerate(data):
    if (not isinstance(entry, list) or len(entry) != 2 or
        not isinstance(entry[0], int) or isinstance(entry[0], bool) or
        not 0 <= entry[0] <= MAX_ID or not isinstance(entry[1], list) or
        not all(isinstance(t, str) for t in entry[1])):
      raise DataError(
          path, f'entry {i}: expected [id, [tokens...]], got '
          f'{json.dumps(entry)[:200]}')
    if entry[0] in names:
      raise DataError(path, f'entry {i}: id {entry[0]} appears twice')
    names[entry[0]] = ' '.join(entry[1])
  return names


def read_string_map(path: PathLike) -> dict[str, str]:
  """A JSON object of string → string (`qid2abs.json`, `qid2ne.json`)."""
  data = read_json(path)
  if not isinstance(data, dict):
    raise DataError(path, f'expected a JSON object, got {type(data).__name__}')
  for key, value in data.items():
    if not isinstance(value, str):
      raise DataError(path, f'entry {key!r}: expected a string, got '
                      f'{type(value).__name__}')
    _check_controls(path, key, 'the entry id')
  return data


MENTION_FIELDS = ('sentence', 'mentions', 'answer')


def read_mentions(path: PathLike) -> list[dict[str, str]]:
  """MEL `train.json` / `test.json`: mentions with sentence and answer.

  Accepts a JSON object of entries or a list of entries. Only `sentence`,
  `mentions` and `answer` are kept: the gold `entities` name (and the `id`,
  which equals the answer in RichpediaMEL) must never reach a model.
  """
  data = read_json(path)
  if isinstance(data, dict):
    entries = list(data.items())
  elif isinstance(data, list):
    entries = list(enumerate(data))
  else:
    raise DataError(path, f'expected a JSON object or list, got '
                    f'{type(data).__name__}')
  mentions = []
  for key, entry in entries:
    if not isinstance(entry, dict):
      raise DataError(path, f'entry {key!r}: expected an object')
    for field in MENTION_FIELDS:
      if not isinstance(entry.get(field), str):
        raise DataError(path, f'entry {key!r}: field {field!r} missing or '
                        'not a string')
    if not entry['answer'].strip():
      raise DataError(path, f'entry {key!r}: empty answer')
    _check_controls(path, entry['answer'], f'entry {key!r}: the answer')
    if not (entry['mentions'].strip() or entry['sentence'].strip()):
      raise DataError(path, f'entry {key!r}: empty mention and sentence')
    mentions.append({field: entry[field] for field in MENTION_FIELDS})
  return mentions


_ATTRIBUTE = re.compile(r'([^:.]+?):\s*(.*?)\s*(?:\.\s+|\.$|$)(?=[^:.]+?:|$)')


def parse_attribute_text(text: str) -> list[tuple[str, str]]:
  """`"Occupation: politician, lawyer. Languages: English."` → pairs.

  Returns (attribute, value) pairs, one per comma-separated value, without
  duplicates, in order of appearance.
  """
  pairs: list[tuple[str, str]] = []
  for attribute, values in _ATTRIBUTE.findall(text.strip()):
    attribute = attribute.strip()
    for value in values.split(','):
      value = value.strip().rstrip('.').strip()
      if attribute and value and (attribute, value) not in pairs:
        pairs.append((attribute, value))
  return pairs
