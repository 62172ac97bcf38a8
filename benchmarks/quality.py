r"""Quality tables from records: run what is missing, render what ran.

  # run the plan's runs that have no record yet (hours on 2 cores;
  # --only takes a regular expression of run ids), then import their
  # records into benchmarks/records/
  python benchmarks/quality.py run --only 'ultra_.*'
  # render benchmarks/RESULTS.md and the README's table from the records
  python benchmarks/quality.py render --readme

Runs are `benchmarks/plan.py`'s; tables, targets and the headline are
`benchmarks/tables.py`'s; every number comes from a record
(`mtaimkg_jax/records.py`) and the command shown is the one the record
says ran. The tables of the model before this format are frozen in
`benchmarks/archive/RESULTS-2026-12-06.md`.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys

BENCHMARKS = pathlib.Path(__file__).resolve().parent
PROJECT = BENCHMARKS.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(BENCHMARKS))
import plan as plan_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
import report  # pylint: disable=g-import-not-at-top,wrong-import-position
import tables  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax import records as records_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

RECORDS = BENCHMARKS / 'records'
BEGIN, END = '<!-- quality:begin -->', '<!-- quality:end -->'


def command(run: plan_lib.Run, runs: str) -> list[str]:
  args = [a.replace('<runs>', runs) for a in run.args]
  return [sys.executable, '-m', 'mtaimkg_jax.main', *args,
          f'--workdir={os.path.join(runs, run.id)}']


def import_records(workdir: pathlib.Path, into: pathlib.Path) -> int:
  """Copies a run's records (and ranks) not yet in `into/<run>`; returns
  how many records were new."""
  source = workdir / records_lib.RECORDS_DIR
  if not source.is_dir():
    return 0
  target = into / workdir.name
  target.mkdir(parents=True, exist_ok=True)
  new = 0
  for path in sorted(source.iterdir()):
    if path.suffix in ('.json', '.npz') and not (target / path.name).exists():
      shutil.copy2(path, target / path.name)
      new += path.suffix == '.json'
  return new


def extract_previous(runs: str) -> None:
  """The checkpoint shipped at `plan.PREVIOUS_COMMIT`, as run `previous`."""
  workdir = pathlib.Path(runs) / plan_lib.PREVIOUS
  if (workdir / 'config.json').exists():
    return
  workdir.mkdir(parents=True, exist_ok=True)
  archive = subprocess.run(
      ['git', '-C', str(PROJECT), 'archive', plan_lib.PREVIOUS_COMMIT,
       'checkpoints/mtaimkg_mixture'], check=True, capture_output=True).stdout
  subprocess.run(['tar', '-x', '--strip-components=2', '-C', str(workdir)],
                 input=archive, check=True)


def execute(runs_plan: list[plan_lib.Run], runs: str, only: str,
            into: pathlib.Path, again: bool = False) -> int:
  """Runs the chosen runs that have no record yet, in plan order."""
  status = 0
  for run in runs_plan:
    if only and not re.fullmatch(only, run.id):
      continue
    workdir = pathlib.Path(runs) / run.id
    if not again and ((into / run.id).is_dir() or import_records(
        workdir, into)):
      continue
    if run.after == plan_lib.PREVIOUS:
      extract_previous(runs)
    print('+', ' '.join(command(run, runs)), flush=True)
    code = subprocess.run(command(run, runs), cwd=PROJECT).returncode
    if code:
      print(f'{run.id}: exit status {code}', flush=True)
      status = status or code
    import_records(workdir, into)
  return status


def evidence_lines(store: report.Store) -> list[str]:
  """Per ranked dataset of the current checkpoint: each term's share of
  the logits and the graph evidence the router read."""
  lines = ['## Routing: each term\'s share of the logits, per graph', '',
           'Mean over ranked answers of each term\'s |weighted value| '
           'over the candidates, normalised over the terms (rows sum to '
           '1). `evidence`: what the router read of the graph, its mean '
           'gain of each term alone over popularity in masked '
           'self-prediction of the fact graph\'s own edges '
           '(`log((mrr + 0.01) / (frequency_mrr + 0.01))`, data/evidence.py; '
           'per relation in the run\'s evidence.json).', '']
  rows = []
  for (run, key), found in sorted(store.by_key.items()):
    record = found[-1]
    if record['variant'] != 'plain' or 'routing' not in record:
      continue
    shares = record['routing']
    rows.append((run, key, shares, record.get('evidence', {})))
  if not rows:
    return lines + ['(no record with routing yet)', '']
  terms = sorted({t for _, _, s, _ in rows for t in s})
  lines += ['| run | dataset | ' + ' | '.join(terms) + ' | evidence |',
            '|---|---|' + '---|' * (len(terms) + 1)]
  for run, key, shares, evidence in rows:
    shown = ', '.join(f'{k.replace("_gain", "")} {v:+.2f}'
                      for k, v in sorted(evidence.items())
                      if k.endswith('_gain') and v)
    lines.append(f'| `{run}` | `{key}` | ' + ' | '.join(
        f'{shares.get(t, 0.0):.3f}' for t in terms) + f' | {shown} |')
  return lines + ['']


def render(store: report.Store, argv: list[str]) -> str:
  lines = ['# Quality results', '',
           f'Generated by `python benchmarks/quality.py {" ".join(argv)}` '
           'from the records in `benchmarks/records/` (one per run and '
           'result: the argv as run, its commit, the parameters it ranked '
           'with). "a ± b": the mean of two seeds ± half their range; 95%: '
           'the test set\'s interval (1.96 standard errors over the '
           'queries); "stale": the checkpoint the run read has changed '
           'since. The tables before this format: '
           '[archive/RESULTS-2026-12-06.md](archive/RESULTS-2026-12-06.md).',
           '']
  for table in tables.TABLES:
    lines += report.markdown_table(store, table)
  lines += ['## Targets', '', '| target | verdict |', '|---|---|']
  lines += [f'| {t.text} | {report.verdict(store, t)} |'
            for t in tables.TARGETS]
  lines += [''] + evidence_lines(store)
  lines += ['## Commands', '', 'As each run\'s latest record says it ran '
            '(wall time of the process, commit, machine).', '', '```']
  lines += report.command_lines(store, sorted(store.by_run))
  return '\n'.join(lines + ['```', ''])


def headline(store: report.Store) -> str:
  """Per dataset of `tables.HEADLINE`, plain rows: the names-alone floor,
  ULTRA 3g, the previous and the current default checkpoint."""
  columns = ('no learning: names alone', 'ULTRA 3g', 'previous default',
             'MtaIMKG mixture (2 seeds)')
  lines = ['| task | dataset | metric | ' + ' | '.join(columns) + ' |',
           '|---|---|---|' + '---|' * len(columns)]
  for task, dataset, metric in tables.HEADLINE:
    name = plan_lib.short(dataset)
    if dataset in tables.TRAINED:
      previous, current = tables.BEFORE, tables.own(dataset)
    else:
      previous = tables.unseen_default(dataset, tables.BEFORE)
      current = tables.unseen_default(dataset)
    cells = [report.show(report.value(store, report.Cell(runs, dataset,
                                                         metric)))
             for runs in ((f'names_{name}',), (f'ultra_{name}',), previous,
                          current)]
    lines.append(f'| {task} | `{dataset}` | {metric} | ' + ' | '.join(cells)
                 + ' |')
  return '\n'.join(lines)


def update_readme(readme: pathlib.Path, table: str) -> None:
  """Replaces the table between the README's quality markers (and only
  that)."""
  text = readme.read_text()
  start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
  readme.write_text(text[:start] + '\n' + table + '\n' + text[end:])


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  sub = parser.add_subparsers(dest='action', required=True)
  run = sub.add_parser('run', help='run the runs without a record')
  run.add_argument('--runs', default='workdir/quality')
  run.add_argument('--only', default='', help='regex of run ids')
  run.add_argument('--again', action='store_true',
                   help='rerun even if records exist')
  run.add_argument('--scale', choices=('real', 'test'), default='real')
  run.add_argument('--records', default=str(RECORDS))
  show = sub.add_parser('render', help='render the tables from records')
  show.add_argument('--records', default=str(RECORDS))
  show.add_argument('--out', default=str(BENCHMARKS / 'RESULTS.md'))
  show.add_argument('--readme', action='store_true')
  args = parser.parse_args(argv)
  if args.action == 'run':
    runs_plan = (plan_lib.real_plan() if args.scale == 'real' else
                 plan_lib.test_plan())
    return execute(runs_plan, args.runs, args.only,
                   pathlib.Path(args.records), args.again)
  store = report.Store.read(args.records, str(PROJECT))
  given = sys.argv[1:] if argv is None else list(argv)
  pathlib.Path(args.out).write_text(render(store, given))
  if args.readme:
    update_readme(PROJECT / 'README.md', headline(store))
  return 0


if __name__ == '__main__':
  sys.exit(main())
