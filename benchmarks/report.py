"""Tables from records: cells name run ids, never display labels.

A `Cell` is one result of one or more runs (one per seed) under a
results key (`'lp/MKG-W'`, `'ea/DBP15K/zh_en:sinkhorn'`); its value is
the mean over the runs' latest records, with half the range of the seeds
and the test set's 95% interval. A record whose source checkpoint has
changed since it ran (the source run has a newer record with other
parameters, or a shipped checkpoint's fingerprint file says otherwise)
is stale and shows as such, never as a number. A `Target` compares a
cell with a number or with another cell (paired over the same queries);
labels are only printed, so renaming one changes no verdict.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Sequence

import numpy as np

from mtaimkg_jax import checkpoint
from mtaimkg_jax import records as records_lib

STALE = 'stale'
NOT_RUN = 'not run'


@dataclasses.dataclass(frozen=True)
class Cell:
  runs: tuple[str, ...]  # one run id per seed
  key: str  # results key: a dataset, maybe with a variant suffix
  metric: str = 'mrr'


@dataclasses.dataclass(frozen=True)
class Row:
  label: str  # the method, as printed
  cell: Cell
  setting: str = ''  # 'zero-shot', 'inductive (same KG)', 'trained on it'


@dataclasses.dataclass(frozen=True)
class Table:
  title: str
  rows: tuple[Row, ...]
  note: str = ''


@dataclasses.dataclass(frozen=True)
class Target:
  """`cell ≥ bound` where bound is a number, or another cell plus
  `margin` (paired over the queries both ranked)."""
  text: str
  cell: Cell
  bound: float | Cell
  margin: float = 0.0


class Store:
  """Every record under a directory, by (run, key), the latest last;
  `checkpoints` maps a source path to its current fingerprint (shipped
  checkpoints carry theirs)."""

  def __init__(self, found: Sequence[dict[str, Any]],
               checkpoints: dict[str, str] | None = None):
    self.by_key: dict[tuple[str, str], list[dict]] = {}
    self.by_run: dict[str, list[dict]] = {}
    for record in found:
      self.by_key.setdefault((record['run'], record['key']), []).append(record)
      self.by_run.setdefault(record['run'], []).append(record)
    self.checkpoints = dict(checkpoints or {})

  @classmethod
  def read(cls, directory: str, project: str) -> 'Store':
    return cls(records_lib.read_all(directory), shipped_fingerprints(project))

  def latest(self, run: str, key: str) -> dict | None:
    found = self.by_key.get((run, key))
    return found[-1] if found else None

  def current_fingerprint(self, source: dict[str, Any]) -> str | None:
    """What the source of a record holds now: a run's latest parameters,
    or a shipped checkpoint's recorded fingerprint (None: unknown)."""
    path = os.path.normpath(source.get('path') or '')
    for shipped, fingerprint in self.checkpoints.items():
      if path == shipped or path.endswith(os.sep + shipped):
        return fingerprint
    run = source.get('run')
    if run and run in self.by_run:
      return self.by_run[run][-1]['params']['fingerprint']
    return None

  def is_stale(self, record: dict[str, Any]) -> bool:
    source = record.get('source') or {}
    if source.get('kind') not in ('init_workdir', 'workdir'):
      return False
    if source.get('kind') == 'workdir':
      return False
    current = self.current_fingerprint(source)
    return current is not None and current != source.get('fingerprint')


def shipped_fingerprints(project: str) -> dict[str, str]:
  """{'checkpoints/<name>': parameter fingerprint} of the checkpoints the
  repository ships (their latest step's `fingerprint.json`)."""
  out = {}
  root = os.path.join(project, 'checkpoints')
  if not os.path.isdir(root):
    return out
  for name in sorted(os.listdir(root)):
    steps = os.path.join(root, name, 'checkpoints')
    saved = sorted((int(s) for s in os.listdir(steps) if s.isdigit())
                   if os.path.isdir(steps) else ())
    path = (os.path.join(steps, str(saved[-1]), checkpoint.FINGERPRINT_FILE)
            if saved else '')
    if path and os.path.exists(path):
      with open(path) as f:
        out[os.path.join('checkpoints', name)] = json.load(f)[
            'params_fingerprint']
  return out


@dataclasses.dataclass
class Value:
  """A cell's value: per-seed metric values, their records, or why not."""
  values: list[float]
  found: list[dict]
  status: str = ''  # '' (a number), NOT_RUN or STALE
  missing: int = 0  # the cell's runs without a record (a number all the same)

  @property
  def mean(self) -> float:
    return float(np.mean(self.values))

  @property
  def spread(self) -> float:
    return (max(self.values) - min(self.values)) / 2

  @property
  def stderr(self) -> float:
    """Standard error of the seeds' mean over the test queries (each
    seed's own, combined as for a mean of independent estimates)."""
    errors = [r['stderr'].get(self._metric, float('nan')) for r in self.found]
    return float(np.sqrt(np.sum(np.square(errors))) / len(errors))

  _metric: str = 'mrr'


def value(store: Store, cell: Cell) -> Value:
  """The cell's value over the runs that have a record; `missing` counts
  the others, and `show` says so (a seed not run is never hidden)."""
  everything = [store.latest(run, cell.key) for run in cell.runs]
  found = [r for r in everything if r is not None]
  if not found:
    return Value([], [], NOT_RUN)
  if any(store.is_stale(r) for r in found):
    return Value([], found, STALE)
  out = Value([r['metrics'][cell.metric] for r in found], found,
              missing=len(everything) - len(found))
  out._metric = cell.metric
  return out


def show(v: Value, digits: int = 3) -> str:
  if v.status:
    return v.status
  text = f'{v.mean:.{digits}f}'
  if len(v.values) > 1:
    text += f' ± {v.spread:.{digits}f}'
  if v.missing:
    text += f' ({len(v.values)} of {len(v.values) + v.missing} runs)'
  return text


def paired_difference(store: Store, cell: Cell, other: Cell
                      ) -> tuple[float, float] | None:
  """Mean over seeds of `cell − other` on the queries both ranked, with
  its standard error (paired over queries), or None if either is missing
  or stale. Seeds pair up in order; a single-run `other` pairs with
  every seed."""
  a, b = value(store, cell), value(store, other)
  if a.status or b.status:
    return None
  diffs, errors = [], []
  for i, record in enumerate(a.found):
    partner = b.found[i if len(b.found) > 1 else 0]
    ids_a, ranks_a = records_lib.load_ranks(record)
    ids_b, ranks_b = records_lib.load_ranks(partner)
    per_a = _per_query(ranks_a, cell.metric)
    per_b = _per_query(ranks_b, other.metric)
    common, ia, ib = np.intersect1d(ids_a, ids_b, return_indices=True)
    if not len(common):
      return None
    d = per_a[ia] - per_b[ib]
    diffs.append(float(np.mean(d)))
    errors.append(float(np.std(d, ddof=1) / np.sqrt(len(d)))
                  if len(d) > 1 else float('nan'))
  return (float(np.mean(diffs)),
          float(np.sqrt(np.sum(np.square(errors))) / len(errors)))


def _per_query(ranks: np.ndarray, metric: str) -> np.ndarray:
  ranks = np.asarray(ranks, np.float64)
  if metric == 'mrr':
    return 1.0 / ranks
  if metric.startswith('hits@'):
    return (ranks <= int(metric.split('@')[1])).astype(np.float64)
  raise ValueError(f'no per-query value of {metric!r}')


def verdict(store: Store, target: Target) -> str:
  """'met' / 'missed by x' with the numbers and their 95% intervals, or
  why it cannot be judged."""
  v = value(store, target.cell)
  if v.status:
    return f'{v.status}'
  matching = matching_note(v.found)
  if isinstance(target.bound, Cell):
    pair = paired_difference(store, target.cell, target.bound)
    if pair is None:
      return f'{value(store, target.bound).status or "not comparable"}'
    diff, error = pair
    gap = diff - target.margin
    word = 'met' if gap >= 0 else f'missed by {-gap:.3f}'
    return (f'{word}: {show(v)}{matching} vs '
            f'{show(value(store, target.bound))}, '
            f'paired difference {diff:+.3f} (95% ±{1.96 * error:.3f}), '
            f'needed {target.margin:+.3f}')
  gap = v.mean - target.bound
  word = 'met' if gap >= 0 else f'missed by {-gap:.3f}'
  return (f'{word}: {show(v)}{matching} (95% ±{1.96 * v.stderr:.3f}) vs '
          f'{target.bound:.3f}')


def matching_note(found: Sequence[dict[str, Any]]) -> str:
  """' (T = t)': the one-to-one matching temperature a cell's records
  keep; ' (T differs)' if they disagree, ' (T not recorded)' if a
  one-to-one record does not say (written before records kept it); ''
  for other variants."""
  matched = [r for r in found if r['key'].endswith(records_lib.ONE_TO_ONE)]
  temperatures = {(r.get('matching') or {}).get('temperature')
                  for r in matched}
  if not temperatures:
    return ''
  if None in temperatures:
    return ' (T not recorded)'
  if len(temperatures) > 1:
    return ' (T differs)'
  return f' (T = {temperatures.pop():g})'


def markdown_table(store: Store, table: Table) -> list[str]:
  lines = [f'### {table.title}', '']
  if table.note:
    lines += [table.note, '']
  lines += ['| dataset | method | setting | variant | metric | value | '
            '95% (test set) | queries | runs |', '|---|---|---|---|---|---|'
            '---|---|---|']
  for row in table.rows:
    v = value(store, row.cell)
    dataset, variant = records_lib.split_key(row.cell.key)
    variant += matching_note(v.found)
    interval = (f'±{1.96 * v.stderr:.3f}' if not v.status else '')
    queries = (str(v.found[0]['metrics']['count']) if v.found else '')
    lines.append(f'| `{dataset}` | {row.label} | {row.setting} | {variant} | '
                 f'{row.cell.metric} | {show(v)} | {interval} | {queries} | '
                 f'{", ".join(f"`{r}`" for r in row.cell.runs)} |')
  return lines + ['']


def command_lines(store: Store, runs: Sequence[str]) -> list[str]:
  """Each run's recorded argv, commit and cost, as the records say."""
  lines = []
  for run in runs:
    found = store.by_run.get(run)
    if not found:
      lines.append(f'# {run}: not run')
      continue
    last = found[-1]
    code = last['code']
    commit = (code['commit'] or 'unknown')[:7] + ('-dirty' if code['dirty']
                                                  else '')
    lines.append(f'{" ".join(_quoted(a) for a in last["argv"])}  '
                 f'# {run}: {last["process_seconds"]:.0f} s, code {commit}, '
                 f'{last["machine"]["cpus"]} cpus '
                 f'{last["machine"]["backend"]}')
  return lines


def _quoted(arg: str) -> str:
  import shlex  # pylint: disable=g-import-not-at-top
  if '=' in arg and arg.startswith('--'):
    flag, _, rest = arg.partition('=')
    return f'{flag}={shlex.quote(rest)}' if rest else arg
  return shlex.quote(arg)
