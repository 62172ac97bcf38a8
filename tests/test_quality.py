"""benchmarks/quality.py: runs write records, tables render from records
by run id, stale transfers show stale, and every real command is a valid
config."""

import json
import pathlib
import sys

import numpy as np
import pytest
from absl import flags
from ml_collections import config_flags

from conftest import PROJECT
from mtaimkg_jax import config_base, config_check, records
from mtaimkg_jax import experiment

sys.path.insert(0, str(PROJECT / 'benchmarks'))
# pylint: disable=g-import-not-at-top,wrong-import-position
import plan as plan_lib
import quality
import report
import tables
# pylint: enable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope='module')
def test_scale(tmp_path_factory):
  root = tmp_path_factory.mktemp('quality')
  runs, into = root / 'runs', root / 'records'
  status = quality.main(['run', '--scale', 'test', '--runs', str(runs),
                         '--records', str(into)])
  return status, runs, into


def test_every_run_writes_records_that_say_what_ran(test_scale):
  status, runs, into = test_scale
  assert status == 0
  found = records.read_all(str(into))
  by_run = {}
  for record in found:
    by_run.setdefault(record['run'], []).append(record)
  assert set(by_run) == {r.id for r in plan_lib.test_plan()}
  for record in found:
    assert record['argv'][:3] == ['python', '-m', 'mtaimkg_jax.main']
    assert record['argv'][-1].endswith(record['run'])
    assert record['code']['commit'] and isinstance(record['code']['dirty'],
                                                   bool)
    assert len(record['config_hash']) == 64
    metrics = record['metrics']
    assert metrics['count'] == record['queries']
    assert record['machine']['cpus'] >= 1 and record['seconds'] >= 0
    ids, ranks = records.load_ranks(record)
    assert len(ids) == len(ranks) == metrics['count']
    assert np.isclose(np.mean(1 / ranks), metrics['mrr'])
    # The standard error over the queries, and its normal 95% interval.
    stderr = np.std(1 / ranks, ddof=1) / np.sqrt(len(ranks))
    assert np.isclose(record['stderr']['mrr'], stderr)
    assert np.allclose(record['interval95']['mrr'],
                       [metrics['mrr'] - 1.96 * stderr,
                        metrics['mrr'] + 1.96 * stderr])
  # Plain rows carry their breakdowns (EL: by shared answer names).
  trained_el = [r for r in by_run['model'] if r['key'] == 'el/synthetic']
  assert sum(v['count'] for v in trained_el[0]['breakdowns'][
      'by_shared_name'].values()) == trained_el[0]['queries']
  assert not [r for r in found if r['variant'] != 'plain' and r['breakdowns']]
  trained = {r['key']: r for r in by_run['model']}
  backbone = {r['key']: r for r in by_run['model_backbone']}
  for key, record in backbone.items():
    # The backbone ranked the trained run's parameters, and says so.
    assert record['source']['run'] == 'model'
    assert record['source']['fingerprint'] == trained[key]['params'][
        'fingerprint'] == record['params']['fingerprint']
    assert record['without'] == ['modalities']
  assert all(r['source']['kind'] == 'none' for r in by_run['names_synthetic'])
  # A second `run` reruns nothing: every run has its records.
  assert quality.main(['run', '--scale', 'test', '--runs', str(runs),
                       '--records', str(into)]) == 0
  assert len(records.read_all(str(into))) == len(found)


def _record(tmp_path: pathlib.Path, run: str, key: str, ranks, created: str,
            fingerprint: str = 'p', source: dict | None = None) -> None:
  """A fake record (and its ranks) of `run` in the layout `records.write`
  makes."""
  ranks = np.asarray(ranks, np.float32)
  name = f'{created}_{key.replace("/", "_").replace(":", "-")}'
  directory = tmp_path / run
  directory.mkdir(parents=True, exist_ok=True)
  np.savez(directory / f'{name}.npz', ranks=ranks,
           query_ids=np.arange(len(ranks)))
  record = {'record': name, 'run': run, 'created': created, 'key': key,
            'dataset': records.split_key(key)[0],
            'variant': records.split_key(key)[1], 'ranks': f'{name}.npz',
            'params': {'fingerprint': fingerprint, 'step': 1},
            'source': source or {'kind': 'none'}, 'argv': ['python'],
            'code': {'commit': 'abc', 'dirty': False}, 'seconds': 1.0,
            'process_seconds': 1.0, 'machine': {'cpus': 2, 'backend': 'cpu'},
            **records.with_intervals(ranks)}
  (directory / f'{name}.json').write_text(json.dumps(record))


def _fake_store(tmp_path):
  rng = np.random.default_rng(0)
  base = rng.integers(1, 20, 400)
  _record(tmp_path, 'ultra_G', 'lp/G', base, '1')
  _record(tmp_path, 'model', 'lp/T', base, '1', fingerprint='trained-1')
  better = np.maximum(base - 2, 1)
  for seed in ('a', 'b'):
    _record(tmp_path, f'{seed}_on_G', 'lp/G', better, '2',
            source={'kind': 'init_workdir', 'run': 'model',
                    'fingerprint': 'trained-1'})
  return report.Store(records.read_all(str(tmp_path)))


def test_a_label_is_only_printed_never_matched(tmp_path):
  store = _fake_store(tmp_path)
  full = report.Cell(('a_on_G', 'b_on_G'), 'lp/G')
  ultra = report.Cell(('ultra_G',), 'lp/G')
  target = report.Target('whatever it is called', full, ultra, 0.01)
  renamed = report.Target('renamed entirely', full, ultra, 0.01)
  assert report.verdict(store, target) == report.verdict(store, renamed)
  assert report.verdict(store, target).startswith('met')
  rows = [report.Row(label, full) for label in ('MtaIMKG', 'something')]
  first, second = (report.markdown_table(store, report.Table('t', (r,)))[-2]
                   for r in rows)
  assert first.replace('MtaIMKG', 'something') == second


def test_verdicts_read_means_intervals_and_paired_differences(tmp_path):
  store = _fake_store(tmp_path)
  full = report.Cell(('a_on_G', 'b_on_G'), 'lp/G')
  ultra = report.Cell(('ultra_G',), 'lp/G')
  value = report.value(store, full)
  assert value.mean == pytest.approx(store.latest('a_on_G', 'lp/G')[
      'metrics']['mrr'])
  diff, error = report.paired_difference(store, full, ultra)
  assert diff > 0 and error > 0
  assert report.verdict(store, report.Target('x', full, value.mean + 0.001)
                        ).startswith('missed by 0.001')
  assert report.verdict(store, report.Target('x', full, ultra, diff + 0.01)
                        ).startswith('missed by 0.010')


def test_a_transfer_whose_source_was_retrained_shows_stale(tmp_path):
  full = report.Cell(('a_on_G', 'b_on_G'), 'lp/G')
  assert not report.value(_fake_store(tmp_path), full).status
  # The source run is trained again: its newest record ranks other
  # parameters, so the transfers made from the old ones are stale.
  _record(tmp_path, 'model', 'lp/T', [1, 2, 3], '3', fingerprint='trained-2')
  store = report.Store(records.read_all(str(tmp_path)))
  assert report.value(store, full).status == report.STALE
  assert report.show(report.value(store, full)) == 'stale'
  ultra = report.Cell(('ultra_G',), 'lp/G')
  assert report.verdict(store, report.Target('x', full, ultra)) == 'stale'
  # A shipped checkpoint's own fingerprint file decides the same way.
  shipped = {'kind': 'init_workdir', 'path': '/x/checkpoints/ship',
             'fingerprint': 'old'}
  assert report.Store([], {'checkpoints/ship': 'new'}).is_stale(
      {'source': shipped})
  assert not report.Store([], {'checkpoints/ship': 'old'}).is_stale(
      {'source': shipped})
  # ...read from its latest step's fingerprint.json, as training wrote it.
  step = tmp_path / 'project' / 'checkpoints' / 'ship' / 'checkpoints'
  for saved, fingerprint in ((400, 'older'), (800, 'new')):
    (step / str(saved)).mkdir(parents=True)
    (step / str(saved) / 'fingerprint.json').write_text(json.dumps(
        {'params_fingerprint': fingerprint, 'arrays': {}}))
  assert report.shipped_fingerprints(str(tmp_path / 'project')) == {
      'checkpoints/ship': 'new'}


def test_a_missing_run_is_not_run_never_a_number(tmp_path):
  store = _fake_store(tmp_path)
  cell = report.Cell(('never_ran', 'nor_this'), 'lp/G')
  assert report.show(report.value(store, cell)) == report.NOT_RUN
  # A cell with one of its two seeds says that it holds one.
  half = report.value(store, report.Cell(('a_on_G', 'never_ran'), 'lp/G'))
  assert report.show(half).endswith(' (1 of 2 runs)')
  assert half.values == report.value(
      store, report.Cell(('a_on_G',), 'lp/G')).values


def test_the_readme_table_is_rendered_between_its_markers_only(tmp_path):
  readme = tmp_path / 'README.md'
  readme.write_text(f'prose\n{quality.BEGIN}\nold\n{quality.END}\nmore\n')
  quality.update_readme(readme, '| a |')
  assert readme.read_text() == (f'prose\n{quality.BEGIN}\n| a |\n'
                                f'{quality.END}\nmore\n')


def test_every_table_cell_and_target_names_a_run_of_the_plan():
  runs = {r.id for r in plan_lib.real_plan()}
  assert len(runs) == len(plan_lib.real_plan())
  cells = [row.cell for table in tables.TABLES for row in table.rows]
  cells += [t.cell for t in tables.TARGETS]
  cells += [t.bound for t in tables.TARGETS
            if isinstance(t.bound, report.Cell)]
  for cell in cells:
    assert set(cell.runs) <= runs, cell
    records.split_key(cell.key)


def _parse(command: list[str]):
  """The config `python -m mtaimkg_jax.main <command>` would run."""
  argv = ['main', *command]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, '', flag_values=values,
                                  lock_config=True, sys_argv=argv)
  flags.DEFINE_string('workdir', None, '', flag_values=values)
  flags.DEFINE_string('mode', 'train', '', flag_values=values)
  values(argv)
  assert values['mode'].value in ('train', 'eval', 'baseline')
  return values['config'].value


def test_every_real_command_is_a_valid_config():
  for run in plan_lib.real_plan():
    command = quality.command(run, '/tmp/runs')[3:]
    named = [a.split('=')[0].removeprefix('--config.') for a in command
             if a.startswith('--config.')]
    config = _parse(command)
    config_check.validate(config, 1)
    if 'model.init_checkpoint' in named:
      # A checkpoint named on the command line wins over the config's
      # default one (configs/transfer.py: the shipped checkpoint).
      init = experiment.resolve_init(config, None, named)
      assert init.kind == 'init_checkpoint', run.id
    if run.trains:
      assert config.model.init_checkpoint.endswith('ultra_3g.pth')
    if run.after:
      assert config.init_workdir.endswith(run.after) or run.id == run.after


def test_the_default_and_the_previous_default_train_what_they_say():
  """The default's runs (plan.NATIVE) train exactly configs/mixture.py's
  model and data; the previous default's (plan.MIXTURE) differ from it
  only by the native view and EL's held-out mentions."""
  mixture = _parse(['--config=configs/mixture.py'])
  by_id = {run.id: run for run in plan_lib.real_plan()}
  keys = config_check.RESUME_KEYS
  for run_id in (plan_lib.NATIVE, plan_lib.NATIVE_SEED1):
    trained = _parse(quality.command(by_id[run_id], '/tmp/runs')[3:])
    assert not config_check.differences(trained, mixture, keys, ('seed',))
  before = _parse(quality.command(by_id[plan_lib.MIXTURE], '/tmp/runs')[3:])
  assert sorted(d.split(':')[0] for d in config_check.differences(
      before, mixture, keys)) == ['el.valid_fraction', 'features.views']


def test_one_to_one_rows_say_their_matching_temperature(tmp_path):
  """A one-to-one record keeps its matching's temperature and iterations
  (its ranks depend on them); tables and verdicts show the temperature,
  and say when the runs of a cell disagree or a record does not say."""
  config = config_base.base_config()
  config.eval.sinkhorn_temperature = 0.1
  workdir = tmp_path / 'run'
  for key in ('ea/x', 'ea/x:sinkhorn'):
    records.write(str(workdir), key, config=config,
                  params={'fingerprint': 'p', 'step': 1},
                  source={'kind': 'none'}, split='test',
                  ranks=np.array([1.0, 2.0]), query_ids=None, seconds=1.0)
  written = {r['key']: r for r in records.read_all(str(workdir))}
  assert written['ea/x:sinkhorn']['matching'] == {'temperature': 0.1,
                                                  'iterations': 20}
  assert 'matching' not in written['ea/x']
  matched = written['ea/x:sinkhorn']
  assert report.matching_note([matched] * 2) == ' (T = 0.1)'
  assert report.matching_note([written['ea/x']]) == ''
  sharper = {**matched, 'matching': {'temperature': 0.02, 'iterations': 20}}
  assert report.matching_note([matched, sharper]) == ' (T differs)'
  older = {k: v for k, v in matched.items() if k != 'matching'}
  assert report.matching_note([matched, older]) == ' (T not recorded)'
