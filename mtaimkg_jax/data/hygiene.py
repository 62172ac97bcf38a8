"""Data hygiene: counts of legal but suspicious data in task containers.

Readers refuse what is malformed; what is well formed but likely a mistake
(an evaluation triple copied from the fact graph, a test alignment that is
also a seed, a mention asked twice) loads and is counted here, so that a
run can warn about it, write the counts beside its results, or refuse to
start (`strict`). Every function is pure over the containers of `mmkg.py`.

`report(tasks)` gives `{dataset: {check: count}}` with every check of the
dataset's task, zeros included; `enforce(report, strict)` logs a warning per
nonzero count and, when strict, raises one `DataError` listing them all.
`file_coverage(task)` gives how many entities each optional text, name or
image file gave a value; `enforce_coverage` warns when that is under
`LOW_COVERAGE` of them (strict: refuses). A file that covers nothing is
refused when it is read (datasets.py).
"""

from __future__ import annotations

import logging
import re
from typing import Iterable

import numpy as np

from mtaimkg_jax.data.mmkg import MMKG, EATask, ELTask, LPTask, Mentions
from mtaimkg_jax.data.tasks import kind_of
from mtaimkg_jax.errors import DataError

# (check name pattern, what it counts): `describe` reads these.
_DESCRIPTIONS = (
    (r'(\w+)_duplicate_triples', 'triples of {0} listed more than once'),
    (r'(\w+)_triples_in_([\w+]+)', 'triples of {0} also in {1}'),
    (r'(\w+)_unseen_entities',
     'entities of {0} in no triple of the fact graph'),
    (r'(\w+)_unseen_relations',
     'relations of {0} in no triple of the fact graph'),
    (r'source_duplicate_pairs',
     'pairs the source lists more than once, dropped before the split'),
    (r'duplicate_pairs', 'pairs listed more than once within one split'),
    (r'(\w+)_pairs_in_seeds',
     '{0} pairs that are also seeds, i.e. same_as edges of the graph: '
     'leakage'),
    (r'(\w+)_pairs_in_(\w+)', '{0} pairs also in {1}'),
    (r'one_to_many_entities',
     'entities aligned to two or more different entities'),
    (r'(\w+)_duplicate_mentions',
     'mentions of {0} asked more than once, answer included'),
    (r'(\w+)_mentions_in_train',
     'mentions of {0} identical to a train mention, answer included'),
    (r'(\w+)_conflicting_mentions',
     'mentions of {0} identical to a train mention but for the answer'),
)


def describe(check: str) -> str:
  """What a check of `report` counts, in words."""
  for pattern, template in _DESCRIPTIONS:
    match = re.fullmatch(pattern, check)
    if match:
      return template.format(*match.groups())
  return check


def _row_keys(rows: np.ndarray) -> np.ndarray:
  """One comparable scalar per int64 row (rows as raw bytes)."""
  rows = np.ascontiguousarray(rows, np.int64)
  return rows.view(np.dtype((np.void, 8 * rows.shape[1]))).ravel()


def _repeats(rows: np.ndarray) -> int:
  """Rows equal to an earlier row."""
  return len(rows) - len(np.unique(_row_keys(rows))) if len(rows) else 0


def _rows_in(rows: np.ndarray, others: np.ndarray) -> int:
  """Rows of `rows` (with multiplicity) that are also rows of `others`."""
  if not len(rows) or not len(others):
    return 0
  return int(np.isin(_row_keys(rows), _row_keys(others)).sum())


def lp_counts(task: LPTask) -> dict[str, int]:
  """Duplicate triples of every split; for each evaluated split, its
  triples also in the fact graph (or in an earlier evaluated split) and its
  entities and relations the fact graph never uses."""
  kg = task.kg
  found = {f'{s}_duplicate_triples': _repeats(t)
           for s, t in kg.triples.items()}
  facts = kg.all_triples(task.fact_splits)
  fact_name = '+'.join(task.fact_splits)
  fact_entities = np.union1d(facts[:, 0], facts[:, 2])
  fact_relations = np.unique(facts[:, 1])
  evaluated = [s for splits in task.eval_splits.values() for s in splits
               if s not in task.fact_splits]
  evaluated = list(dict.fromkeys(evaluated))
  for i, split in enumerate(evaluated):
    triples = kg.triples[split]
    found[f'{split}_triples_in_{fact_name}'] = _rows_in(triples, facts)
    for earlier in evaluated[:i]:
      found[f'{split}_triples_in_{earlier}'] = _rows_in(
          triples, kg.triples[earlier])
    entities = np.union1d(triples[:, 0], triples[:, 2])
    found[f'{split}_unseen_entities'] = len(
        np.setdiff1d(entities, fact_entities))
    found[f'{split}_unseen_relations'] = len(
        np.setdiff1d(triples[:, 1], fact_relations))
  return found


def _aligned_to_many(pairs: np.ndarray, column: int) -> int:
  """Entities of one side that have two or more different partners."""
  distinct = np.unique(_row_keys(pairs)).view(np.int64).reshape(-1, 2)
  _, partners = np.unique(distinct[:, column], return_counts=True)
  return int((partners > 1).sum())


def ea_counts(task: EATask) -> dict[str, int]:
  """Pairs repeated in the source or within a split, test and valid pairs
  that are also seeds (or test pairs also valid), and entities aligned to
  more than one."""
  splits = {'train': task.train_pairs, 'valid': task.valid_pairs,
            'test': task.test_pairs}
  pairs = np.concatenate(list(splits.values())).reshape(-1, 2)
  return {
      'source_duplicate_pairs': int(task.source_duplicates),
      'duplicate_pairs': sum(_repeats(p) for p in splits.values()),
      'test_pairs_in_seeds': _rows_in(splits['test'], splits['train']),
      'valid_pairs_in_seeds': _rows_in(splits['valid'], splits['train']),
      'test_pairs_in_valid': _rows_in(splits['test'], splits['valid']),
      'one_to_many_entities': (_aligned_to_many(pairs, 0) +
                               _aligned_to_many(pairs, 1)),
  }


def _mention_keys(mentions: Mentions) -> list[tuple]:
  """What a mention is: its text and its own features (mentions of the
  synthetic default share texts but not features)."""
  features = [mentions.features[m] for m in sorted(mentions.features)]
  return [(text, *((f.values[i].tobytes(), bool(f.present[i]))
                   for f in features))
          for i, text in enumerate(mentions.texts)]


def el_counts(task: ELTask) -> dict[str, int]:
  """Mentions asked twice within a split; for every other split, mentions
  identical to a train mention (same text, features and answer), and
  mentions identical to a train mention but for the answer."""
  found = {}
  keyed = {split: list(zip(_mention_keys(m), m.answers.tolist()))
           for split, m in task.mentions.items()}
  for split, mentions in keyed.items():
    found[f'{split}_duplicate_mentions'] = len(mentions) - len(set(mentions))
  train = set(keyed.get('train', ()))
  train_answers: dict[tuple, set[int]] = {}
  for mention, answer in train:
    train_answers.setdefault(mention, set()).add(answer)
  for split, mentions in keyed.items():
    if split == 'train':
      continue
    found[f'{split}_mentions_in_train'] = sum(m in train for m in mentions)
    found[f'{split}_conflicting_mentions'] = sum(
        bool(train_answers.get(mention, set()) - {answer})
        for mention, answer in mentions)
  return found


_COUNTS = {'lp': lp_counts, 'ea': ea_counts, 'el': el_counts}


def counts(task: LPTask | EATask | ELTask) -> dict[str, int]:
  """Every check of the task's kind, zeros included."""
  return _COUNTS[kind_of(task).name](task)


def report(tasks: Iterable[LPTask | EATask | ELTask]
           ) -> dict[str, dict[str, int]]:
  """`{dataset: {check: count}}` (plain ints: ready for `json.dump`)."""
  return {task.key: {check: int(n) for check, n in counts(task).items()}
          for task in tasks}


def enforce(data_report: dict[str, dict[str, int]],
            strict: bool = False) -> list[str]:
  """Logs a warning per nonzero count and returns them; with `strict`
  (config `data.strict`), raises one `DataError` naming every dataset and
  check instead of letting the run start."""
  problems = [(dataset, f'{check} = {n} ({describe(check)})')
              for dataset, checks in data_report.items()
              for check, n in checks.items() if n]
  for dataset, problem in problems:
    logging.warning('%s: %s', dataset, problem)
  if strict and problems:
    first, *rest = problems
    message = '; '.join([first[1]] + [f'{d}: {p}' for d, p in rest])
    raise DataError(first[0], f'{message} (refused under data.strict=True; '
                    'set it False to only warn)')
  return [f'{dataset}: {problem}' for dataset, problem in problems]


# A file that gives fewer than this share of its graph's entities a value
# is likely keyed by other ids than the graph's.
LOW_COVERAGE = 0.5


def _graphs(task: LPTask | EATask | ELTask) -> list[MMKG]:
  if isinstance(task, EATask):
    return [task.kg1, task.kg2]
  return [task.kb if isinstance(task, ELTask) else task.kg]


def file_coverage(task: LPTask | EATask | ELTask
                  ) -> dict[str, dict[str, int]]:
  """{file: {'with_value', 'of'}}: how many of the entities (or relations)
  an optional file could describe it gave a value, over an alignment's
  two graphs."""
  out: dict[str, dict[str, int]] = {}
  for kg in _graphs(task):
    for file, (got, of) in kg.coverage.items():
      counts = out.setdefault(file, {'with_value': 0, 'of': 0})
      counts['with_value'] += int(got)
      counts['of'] += int(of)
  return out


def enforce_coverage(coverage: dict[str, dict[str, int]],
                     strict: bool = False) -> list[str]:
  """Logs a warning per file of `file_coverage` under `LOW_COVERAGE` and
  returns them; with `strict`, raises a `DataError` naming the first."""
  low = [(file, f'gives a value to only {c["with_value"]} of the '
          f'{c["of"]} ids of the graph it could describe '
          f'({c["with_value"] / c["of"]:.0%}): are its keys the graph\'s ids?')
         for file, c in coverage.items()
         if c['of'] and c['with_value'] < LOW_COVERAGE * c['of']]
  for file, problem in low:
    logging.warning('%s: %s', file, problem)
  if strict and low:
    raise DataError(low[0][0], f'{low[0][1]} (refused under data.strict=True; '
                    'set it False to only warn)')
  return [f'{file}: {problem}' for file, problem in low]
