"""benchmarks/quality.py: the CI-size pipeline end to end, and every command
of the real tables parses into a valid config."""
# Tests reach into private helpers on purpose.
# pylint: disable=protected-access

import json
import math
import pathlib
import shlex
import shutil
import sys

import pytest
from absl import flags
from ml_collections import config_flags

from conftest import PROJECT
from mtaimkg_jax import config_check
from mtaimkg_jax.experiment import named_checkpoint_first

sys.path.insert(0, str(PROJECT / 'benchmarks'))
import quality  # pylint: disable=g-import-not-at-top,wrong-import-position


@pytest.fixture(scope='module')
def test_scale(tmp_path_factory):
  runs = tmp_path_factory.mktemp('quality')
  out = runs / 'out'
  argv = ['--scale', 'test', '--runs', str(runs), '--out', str(out)]
  return quality.main(argv), runs, out, argv


def _tables(results: pathlib.Path, argv: list[str]) -> str:
  """RESULTS.md without its header, which must name the command."""
  text = results.read_text()
  header = quality.results_header(argv)
  assert text.startswith(header)
  assert '`python benchmarks/quality.py --scale test --runs ' in header
  return text.removeprefix(header)


def test_pipeline_runs_and_tabulates_every_row(test_scale):
  status, runs, out, argv = test_scale
  assert status == 0
  collected = json.loads((out / 'quality.json').read_text())
  plan = quality.test_plan()
  assert len(collected['rows']) == len(plan.rows)
  for row in collected['rows']:
    metrics = row['metrics']
    assert metrics['count'] > 0
    for key in ('mrr', 'hits@1', 'hits@10'):
      assert 0.0 <= metrics[key] <= 1.0 and math.isfinite(metrics[key])
    assert metrics['hits@1'] <= metrics['hits@10']
    assert row['command'].startswith('python -m mtaimkg_jax.main --config')
    # Each row names the commit it started from (quality._code_version).
    assert row['code'] == quality._code_version()
  # The full tables go to RESULTS.md beside the output directory.
  assert not (out / 'quality.md').exists()
  table = _tables(out.parent / 'RESULTS.md', argv)
  assert '| dataset | method | mrr | hits@1 | hits@10 | queries | run |' in table
  for run in plan.runs:
    assert f'--workdir {runs}/{run.name}' in table
  # The baseline (no training) and the model answer the same queries.
  by = {(r['dataset'], r['run']): r['metrics'] for r in collected['rows']}
  for dataset in ('lp/synthetic', 'ea/synthetic', 'el/synthetic'):
    assert by[(dataset, 'baseline')]['count'] == by[(dataset, 'model')]['count']
  # The transfer run evaluated the trained checkpoint on another graph.
  assert (runs / 'transfer' / 'results.json').exists()
  assert not (runs / 'transfer' / 'checkpoints').exists()
  # Routing: every dataset of both runs has weights summing to 1, and the
  # model run's plot is copied to the output directory and linked from
  # RESULTS.md, relative to it.
  assert set(collected['routing']) == {'model', 'transfer'}
  for by_dataset in collected['routing'].values():
    assert set(by_dataset) == {'lp/synthetic', 'ea/synthetic', 'el/synthetic'}
    for weights in by_dataset.values():
      assert sum(weights.values()) == pytest.approx(1.0, abs=1e-4)
  figure = out / 'routing_model.png'
  assert figure.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  assert f'({collected["routing_figure"]})' in table
  assert (out.parent / collected['routing_figure']).resolve() == (
      figure.resolve())
  assert '| `transfer` | `el/synthetic` |' in table
  # A calibrated row names the scale its run chose on the held-out queries.
  calibration = json.loads((runs / 'model' / 'calibration.json').read_text())
  for dataset in ('ea/synthetic', 'el/synthetic'):
    chosen = calibration[dataset]
    gain = chosen['valid_gain_over_full_scale']
    assert (f'learned-term scale {chosen["learned_scale"]:g}, chosen on '
            f'{chosen["valid_pairs"]} held-out queries (their MRR '
            f'{gain["mrr"]:+.3f} ± {gain["standard_error"]:.3f} over scale 1)'
            ) in table


def test_collect_only_reuses_runs_and_writes_the_readme_headline(
    test_scale, tmp_path, monkeypatch):
  _, runs, out, argv = test_scale
  monkeypatch.setattr(quality, 'PROJECT', tmp_path)
  readme = tmp_path / 'README.md'
  readme.write_text(f'# x\n{quality.BEGIN}\nold\n{quality.END}\ntail\n')
  again = tmp_path / 'benchmarks' / 'results'
  again_argv = ['--scale', 'test', '--runs', str(runs), '--out', str(again),
                '--collect-only', '--readme']
  assert quality.main(again_argv) == 0
  # The same tables; only the copied figure's location differs.
  figure = json.loads((again / 'quality.json').read_text())['routing_figure']
  first = json.loads((out / 'quality.json').read_text())['routing_figure']
  assert _tables(again.parent / 'RESULTS.md', again_argv) == (
      _tables(out.parent / 'RESULTS.md', argv).replace(first, figure))
  # The README gets the headline table, not the full tables, between its
  # markers; what is outside them stays.
  head, rest = readme.read_text().split(quality.BEGIN + '\n')
  text, tail = rest.split('\n' + quality.END)
  assert (head, tail) == ('# x\n', '\ntail\n')
  collected = json.loads((again / 'quality.json').read_text())
  plan = quality.test_plan()
  assert text == quality.headline(plan, collected, 'benchmarks/RESULTS.md')
  assert text.endswith('[benchmarks/RESULTS.md](benchmarks/RESULTS.md).')
  table = [line for line in text.splitlines() if line.startswith('| ')]
  assert len(table) - 1 == len(plan.headline) <= quality.MAX_HEADLINE_ROWS
  assert table[0].startswith('| task | dataset | metric | queries |')
  by = {(r['dataset'], r['run'], r['setting']): r['metrics']
        for r in collected['rows']}
  model = by[('lp/synthetic', 'model', '')]
  floor = by[('lp/synthetic', 'baseline', '')]
  assert table[1].startswith(
      f'| LP | `lp/synthetic` | mrr | {model["count"]:.0f} | '
      f'{floor["mrr"]:.3f} | — | {model["mrr"]:.3f} | ')
  # Each run the table reads has its command under it.
  for run in ('baseline', 'model'):
    assert f'--workdir {runs}/{run}' in text
  assert '| dataset | method |' not in text


def test_a_run_directory_gone_keeps_its_last_collected_rows(test_scale,
                                                            tmp_path):
  """Run directories do not outlive their machine, and a rerun in progress
  has no results yet; the tables keep the last measured rows."""
  _, runs, out, _ = test_scale
  plan = quality.test_plan()
  previous = json.loads((out / 'quality.json').read_text())
  aside = tmp_path / 'model'
  (runs / 'model').rename(aside)
  try:
    kept = quality.collect(plan, str(runs), None, previous)
    assert kept['rows'] == previous['rows']
    assert kept['routing'] == previous['routing']
    (runs / 'model' / 'checkpoints').mkdir(parents=True)
    rerunning = quality.collect(plan, str(runs), None, previous)
    assert rerunning['rows'] == previous['rows']
    assert rerunning['routing'] == previous['routing']
    shutil.rmtree(runs / 'model')
    changed = json.loads(json.dumps(previous))
    for row in changed['rows']:
      row['command'] += ' --config.seed=1'
    del changed['routing']['model']
    fresh = quality.collect(plan, str(runs), None, changed)
    status = {r['run']: r.get('status') for r in fresh['rows']}
    assert status['model'] == 'not run' and status['baseline'] is None
    assert 'model' not in fresh['routing']
    assert quality.collect(plan, str(runs), None)['rows'] == fresh['rows']
  finally:
    shutil.rmtree(runs / 'model', ignore_errors=True)
    aside.rename(runs / 'model')


def test_the_real_headline_reads_measured_rows_of_the_committed_tables(
    tmp_path, monkeypatch):
  """Collected with no run directory (as on a fresh machine), the committed
  quality.json gives every headline row its floor, mixture and best cell."""
  plan = quality.real_plan(steps=800)
  assert len(plan.headline) <= quality.MAX_HEADLINE_ROWS
  previous = json.loads(
      (PROJECT / 'benchmarks' / 'results' / 'quality.json').read_text())
  monkeypatch.chdir(tmp_path)  # where workdir/quality does not exist
  collected = quality.collect(plan, 'workdir/quality', None, previous)
  assert collected['rows'] == previous['rows']
  text = quality.headline(plan, collected, 'benchmarks/RESULTS.md')
  rows = [line.split(' | ') for line in text.splitlines()
          if line.startswith('| ')][1:]
  assert len(rows) == len(plan.headline)
  not_run = {(r['run'], r['dataset'] + r['setting']) for r in collected['rows']
             if r.get('status') == 'not run'}
  for entry, cells in zip(plan.headline, rows):
    floor, ultra, mixture, best = cells[4:8]
    assert '—' not in floor + mixture + best, cells
    assert (ultra == '—') == (not entry.ultra or entry.one_to_one), cells
    # A mixture cell left empty says so, and only where its row is unrun.
    key = entry.dataset + (quality.ONE_TO_ONE if entry.one_to_one else '')
    assert (mixture == quality.NOT_RUN) == ((entry.mixture, key) in not_run)


def test_more_headline_rows_than_a_glance_is_an_error():
  plan = quality.Plan([], [], {}, {}, {}, headline=(
      quality.Headline('d', 'mrr', 'floor', '', 'mixture'),) * (
          quality.MAX_HEADLINE_ROWS + 1))
  with pytest.raises(ValueError, match='MAX_HEADLINE_ROWS = 12'):
    quality.headline(plan, {'rows': []}, 'RESULTS.md')


def _parse(command: list[str]):
  """The config a `python -m mtaimkg_jax.main ...` command would run."""
  argv = ['main', *command[3:]]
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, '', flag_values=values,
                                  lock_config=True, sys_argv=argv)
  flags.DEFINE_string('workdir', None, '', flag_values=values)
  flags.DEFINE_string('mode', 'train', '', flag_values=values)
  values(argv)
  assert values['mode'].value in ('train', 'eval')
  return values['config'].value


def test_every_real_command_is_a_valid_config():
  plan = quality.real_plan(steps=1500)
  names = [run.name for run in plan.runs]
  assert len(names) == len(set(names))
  assert {row.run for row in plan.rows} <= set(names)
  configs, overridden = {}, {}
  for run in plan.runs:
    # The README's command is the one that ran, quoted as typed.
    command = run.command('/tmp/runs')
    assert shlex.split(quality.shell_join(command)) == command
    # As evaluation resolves it: a checkpoint the command names wins over
    # the config's default (configs/transfer.py's shipped one).
    named = [a.split('=')[0].removeprefix('--config.') for a in command
             if a.startswith('--config.')]
    config = named_checkpoint_first(_parse(command), named)
    config_check.validate(config, 1)
    configs[run.name] = config
    overridden[run.name] = named
    datasets = [d for _, d, _ in (config.eval.tasks or config.tasks)]
    assert all(shlex.quote(d) == d for d in datasets)
    if run.trains:
      # Every training run has the common budget but the EL long-budget row,
      # the run with the mixture's LP updates and the single-task runs on a
      # dataset in no mixture.
      trained_on = {d for _, d, _ in config.tasks}
      if len(trained_on) > 1:
        assert not trained_on & set(quality.SINGLE_TASK_STEPS), run.name
      budget, = {quality.SINGLE_TASK_STEPS.get(d, 1500) for d in trained_on}
      if run.name == 'single_el_long_RichpediaMEL':
        budget = quality.EL_LONG_STEPS
      if run.name == 'single_lp_DB15K_mixture_share':
        budget = quality.mixture_updates(1500)['lp']
      assert config.train.num_steps == budget, run.name
      assert config.model.init_checkpoint.endswith('ultra_3g.pth')
  for name, config in configs.items():
    # A transfer reads its checkpoint's features the way it was trained,
    # into a model of the same structure: what its command names agrees
    # with the checkpoint's saved config, which gives the rest.
    if config.model.name == 'baseline':
      continue  # no checkpoint
    if config.init_workdir:
      trained = configs[config.init_workdir.removeprefix('/tmp/runs/')]
      config = config_check.with_saved_model(config, trained,
                                             overridden[name])
      assert not config_check.differences(
          trained, config, ('features', 'model.routing')), name
  rows = {(r.table, r.dataset, r.method) for r in plan.rows}
  assert len(rows) == len(plan.rows)
  tables = {r.table for r in plan.rows}
  assert tables == set(plan.tables)


@pytest.mark.parametrize('arg, shown', [
    ("--config.features.views=('neighbours',)",
     '--config.features.views="(\'neighbours\',)"'),
    ('configs/single.py:task=ea,steps=8', 'configs/single.py:task=ea,steps=8'),
    ('--note=a b', '--note="a b"'),
    ("--note=it's $HOME", """'--note=it'"'"'s $HOME'"""),
    ("it's", """'it'"'"'s'"""),
])
def test_shell_join_reads_as_typed_and_splits_back(arg, shown):
  assert quality.shell_join([arg]) == shown
  assert shlex.split(shown) == [arg]


def test_per_dataset_configs_equal_the_generic_single_task_config():
  """configs/<task>_<dataset>.py are configs/single.py with fixed args."""
  files = {'lp_mkgw': 'task=lp,dataset=lp/MKG-W',
           'lp_mkgy': 'task=lp,dataset=lp/MKG-Y',
           'lp_db15k': 'task=lp,dataset=lp/DB15K',
           'ea_dbp15k_zh_en': 'task=ea,dataset=ea/DBP15K/zh_en',
           'ea_dbp15k_ja_en': 'task=ea,dataset=ea/DBP15K/ja_en',
           'ea_fb15k_db15k': 'task=ea,dataset=ea/FB15K-DB15K',
           'el_richpediamel': 'task=el,dataset=el/RichpediaMEL'}
  single = _parse(['python', '-m', 'x', '--config', 'configs/single.py:' +
                   files['ea_fb15k_db15k']])
  assert single.ea.train_ratio == 0.2
  for name, args in files.items():
    own = _parse(['python', '-m', 'x', '--config', f'configs/{name}.py'])
    generic = _parse(['python', '-m', 'x', '--config',
                      f'configs/single.py:{args}'])
    assert own.to_dict() == generic.to_dict(), name
    config_check.validate(own, 1)


@pytest.mark.parametrize('best, verdict', [
    (0.9497, 'MtaIMKG mixture 0.9497: not met (gap 0.0003)'),
    (0.93, 'MtaIMKG mixture 0.930: not met (gap 0.020)'),
    (0.95, 'MtaIMKG mixture 0.950: met'),
])
def test_target_verdict_never_rounds_a_miss_into_the_target(best, verdict):
  target = quality.Target('hits@1', 0.95, 'anchor', 'T')
  plan = quality.Plan([], [], {'T': ('hits@1',)}, {'d': [target]}, {})
  collected = {'rows': [_row('T', quality.MIXTURE, best)],
               'targets': {'d': [target.__dict__]}}
  assert f'- target `d` hits@1 ≥ 0.95 (anchor): {verdict}' in (
      quality.markdown(plan, collected))


def _row(table: str, method: str, value: float) -> dict:
  return {'table': table, 'dataset': 'd', 'method': method, 'note': '',
          'run': 'r', 'command': 'python -m mtaimkg_jax.main',
          'metrics': {'hits@1': value, 'mrr': value, 'count': 1}}


def test_a_target_judges_only_its_table_and_can_sit_above_a_baseline():
  targets = [quality.Target('mrr', 0.36, 'anchor', 'zero-shot'),
             quality.Target('mrr', 0.03, 'baseline + 0.03', 'zero-shot',
                            above='ULTRA')]
  plan = quality.Plan([], [], {'zero-shot': ('mrr',), 'trained': ('mrr',)},
                      {'d': targets}, {})
  rows = [_row('zero-shot', 'ULTRA', 0.345),
          _row('zero-shot', quality.MIXTURE, 0.341),
          _row('trained', quality.MIXTURE, 0.5)]
  text = quality.markdown(plan, {'rows': rows, 'targets': {
      'd': [t.__dict__ for t in targets]}})
  assert text.count('- target') == 2, text
  assert ('- target `d` mrr ≥ 0.36 (anchor): MtaIMKG mixture 0.341: '
          'not met (gap 0.019)') in text
  assert ('- target `d` mrr ≥ ULTRA + 0.03 = 0.375 (baseline + 0.03): '
          'MtaIMKG mixture 0.341: not met (gap 0.034)') in text
  without_baseline = quality.markdown(plan, {'rows': rows[1:], 'targets': {
      'd': [t.__dict__ for t in targets]}})
  assert 'ULTRA + 0.03 (baseline + 0.03): ULTRA not measured yet' in (
      without_baseline)


def test_a_target_judges_the_plain_mixture_row_only():
  """One-to-one matching, a learned-term scale, single-task runs and the
  previous model do not meet the issue's targets for the mixture."""
  target = quality.Target('hits@1', 0.8, 'anchor', 'T')
  plan = quality.Plan([], [], {'T': ('hits@1',)}, {'d': [target]}, {})
  rows = [_row('T', quality.MIXTURE, 0.75),
          _row('T', quality.MIXTURE + ' + one-to-one (Sinkhorn, τ = 1)', 0.83),
          _row('T', quality.MIXTURE + quality._SCALED, 0.82),
          _row('T', 'MtaIMKG single-task', 0.9),
          _row('T', quality.MIXTURE + quality.PREVIOUS_MODEL, 0.9)]
  text = quality.markdown(plan, {'rows': rows, 'targets': {
      'd': [target.__dict__]}})
  assert ('- target `d` hits@1 ≥ 0.8 (anchor): MtaIMKG mixture 0.750: not '
          'met (gap 0.050)') in text


def test_mixture_is_compared_at_equal_steps_and_at_equal_task_updates():
  share = quality.mixture_updates(800)
  assert sorted(share) == ['ea', 'el', 'lp'] and sum(share.values()) == 800
  plan = quality.real_plan(steps=800)
  (equal_updates,) = [r for r in plan.runs
                      if r.name == 'single_lp_DB15K_mixture_share']
  assert f'steps={share["lp"]}' in equal_updates.args[1]
  rows = [_row('t', 'MtaIMKG mixture', 0.352),
          _row('t', 'MtaIMKG single-task', 0.379),
          _row('t', f'MtaIMKG single-task, {share["lp"]}'
               + quality._MIXTURE_SHARE, 0.355)]
  lines = quality._multitask_lines(rows)
  assert lines == [
      '- one checkpoint vs single-task (equal steps), `d`: MRR 0.352 vs '
      '0.379 (-7.1%, NOT within 2%)',
      '- one checkpoint vs single-task (equal updates of the task), `d`: MRR '
      '0.352 vs 0.355 (-0.8%, within 2%)', '']


def test_a_variant_marked_zero_shot_ea_gets_plain_ja_en_rows():
  plan = quality.real_plan(steps=800)
  by_name = {run.name: run for run in plan.runs}
  for variant in quality.MIXTURE_VARIANTS:
    reads = f'--config.init_workdir={{runs}}/{variant.run}'
    ja_en = [row for row in plan.rows if row.dataset == 'ea/DBP15K/ja_en'
             and reads in by_name[row.run].args]
    plain = [r for r in ja_en if not quality._calibrates(by_name[r.run].args)]
    if not variant.zero_shot_ea:
      assert not plain
      continue
    assert [r.setting for r in plain] == ['', quality.ONE_TO_ONE]
    assert plain[0].method == variant.method
    assert plain[1].method.startswith(variant.method + ' + one-to-one')
    (run,) = {by_name[r.run] for r in plain}
    assert not run.trains and set(variant.flags) <= set(run.args)


def test_the_default_and_the_former_default_get_the_same_kinds_of_rows():
  """configs/mixture.py's run is the plain command, its EA rows ranked by
  that run (centring is in its config); the former default, by its flags,
  keeps every kind of row the default has, and the ablations are its."""
  plan = quality.real_plan(steps=800)
  by_name = {run.name: run for run in plan.runs}
  assert by_name['mixture'].args == ('--config', 'configs/mixture.py:steps=800')
  (former,) = [v for v in quality.MIXTURE_VARIANTS if v.former_default]
  assert former.seeded and set(quality._NO_VIEWS) <= set(former.flags)

  def kinds(source, method):
    reads = f'--config.init_workdir={{runs}}/{source}'
    return sorted((r.table, r.dataset, r.setting,
                   r.method.replace(method, '<model>'))
                  for r in plan.rows if r.run == source or
                  reads in by_name[r.run].args and r.method.startswith(method))

  default = kinds('mixture', quality.MIXTURE)
  assert ('MMEA', 'ea/DBP15K/zh_en', '', '<model>') in default
  # The default alone is also beside the transductive LP rows, and on the
  # synthetic EL graph.
  assert [k for k in kinds(former.run, former.method)
          if not k[0].startswith('Ablations')] == [
              k for k in default if k[1] != 'el/synthetic' and not (
                  k[0] == 'MMLP transductive' and k[1] != 'lp/DB15K')]
  ablations = {r.run for r in plan.rows if r.table.startswith('Ablations')}
  assert len(ablations) == 4
  for name in ablations:
    assert set(quality._NO_VIEWS) <= set(by_name[name].args), name


def test_a_seeded_variant_gets_seed_replicates_of_its_plain_rows():
  plan = quality.real_plan(steps=800)
  by_name = {run.name: run for run in plan.runs}
  for variant in quality.MIXTURE_VARIANTS:
    reads = f'--config.init_workdir={{runs}}/{variant.run}'
    own = [row for row in plan.rows if row.run == variant.run or (
        reads in by_name[row.run].args and
        not quality._calibrates(by_name[row.run].args))]
    assert own
    for row in own:
      if not variant.seeded:
        assert not row.replicates
        continue
      (name,) = row.replicates
      assert name == row.run.replace(variant.run, f'{variant.run}_seed1', 1)
      args = by_name[name].args
      assert ('--config.seed=1' in args) == (row.run == variant.run)
      assert by_name[name].trains == (row.run == variant.run)
      assert set(variant.flags) <= set(args)


def test_no_seed_replicate_ranks_its_training_graphs_on_another_split():
  """EA's seed split follows `config.seed`: a seed-1 checkpoint ranked on a
  graph it trained on with seed 0's split would rank pairs it trained on."""
  plan = quality.real_plan(steps=800)
  by_name = {run.name: run for run in plan.runs}
  trained_on = {d for _, d, _ in quality.presets.MIXTURE_TASKS}
  for row in plan.rows:
    for name in row.replicates:
      run = by_name[name]
      if not run.trains and row.dataset in trained_on:
        assert '--config.seed=1' in run.args, name


def test_previous_model_rows_stay_labelled_beside_the_current_ones(
    tmp_path, monkeypatch):
  """A row measured by code older than the current model is labelled; once
  its command runs again with the current model, both rows are shown."""
  plan = quality.Plan(
      runs=[quality.Run('model', ('--config', 'configs/test.py'))],
      rows=[quality.Row('t', 'lp/synthetic', 'MtaIMKG mixture', 'model')],
      tables={'t': ('mrr',)}, targets={}, notes={})
  monkeypatch.chdir(PROJECT)
  monkeypatch.setattr(quality, '_predates_current_model',
                      lambda commit: commit == 'dccb1cf')  # no git needed
  command = quality.shell_join(quality._full_command(  # pylint: disable=protected-access
      plan.runs[0], str(tmp_path), None))
  old = {'table': 't', 'dataset': 'lp/synthetic', 'method': 'MtaIMKG mixture',
         'run': 'model', 'note': '', 'setting': '', 'command': command,
         'trains': False, 'metrics': {'mrr': 0.3, 'count': 5},
         'code': 'dccb1cf'}  # older than the current model
  carried = quality.collect(plan, str(tmp_path), None, {'rows': [old]})
  assert [r['method'] for r in carried['rows']] == [
      'MtaIMKG mixture [previous model]']
  workdir = tmp_path / 'model'
  workdir.mkdir()
  (workdir / 'results.json').write_text(json.dumps(
      {'lp/synthetic': {'mrr': 0.4, 'count': 5}}))
  (workdir / 'quality_run.json').write_text(json.dumps(
      {'command': command, 'code': quality.CURRENT_MODEL_SINCE,
       'seconds': 1.0}))
  both = quality.collect(plan, str(tmp_path), None, carried)
  assert [(r['method'], r['metrics']['mrr']) for r in both['rows']] == [
      ('MtaIMKG mixture', 0.4), ('MtaIMKG mixture [previous model]', 0.3)]
  # Collected again from its own output, the table is the same.
  assert quality.collect(plan, str(tmp_path), None, both)['rows'] == (
      both['rows'])


def test_seed_replicates_report_mean_and_spread_and_targets_judge_the_mean(
    tmp_path, monkeypatch):
  """The mixture's rows gain a run per extra seed (its training with
  --config.seed, each transfer reading that checkpoint); a row measured
  with two seeds shows mean ± half the range, and targets and the
  modalities line read the mean."""
  real = quality.real_plan(steps=800)
  names = {r.name: r for r in real.runs}
  assert names['mixture_seed1'].args[-1] == '--config.seed=1'
  assert '--config.init_workdir={runs}/mixture_seed1' in (
      names['mixture_seed1_on_MKG-W'].args)
  (row,) = [r for r in real.rows if r.run == 'mixture_backbone_on_MKG-Y']
  assert row.replicates == ('mixture_seed1_backbone_on_MKG-Y',)
  # Calibrated transfers (costly) and other checkpoints get no replicate.
  assert not any(r.replicates for r in real.rows
                 if r.run.endswith('_calibrated') or
                 r.run.startswith(('single_', 'ultra', 'baseline')))

  monkeypatch.chdir(PROJECT)
  monkeypatch.setattr(quality, '_predates_current_model', lambda _: False)
  model = quality.Run('m', ('--config', 'configs/test.py'), trains=True)
  backbone = quality.Run('m_backbone_on_d', ('--config', 'configs/test.py',
                                             '--config.init_workdir={runs}/m'))
  runs = {r.name: r for r in (model, backbone, *(
      quality.seed_replicate(r, 'm', 1) for r in (model, backbone)))}
  target = quality.Target('mrr', 0.35, 'anchor', 't')
  plan = quality.Plan(list(runs.values()), [
      quality.Row('t', 'd', 'MtaIMKG mixture', 'm', replicates=('m_seed1',)),
      quality.Row('t', 'd', quality.BACKBONE_ALONE, 'm_backbone_on_d',
                  replicates=('m_seed1_backbone_on_d',))],
                      {'t': ('mrr',)}, {'d': [target]}, {})
  for run, mrr in (('m', 0.36), ('m_seed1', 0.33), ('m_backbone_on_d', 0.30),
                   ('m_seed1_backbone_on_d', 0.32)):
    workdir = tmp_path / run
    workdir.mkdir()
    (workdir / 'results.json').write_text(json.dumps(
        {'d': {'mrr': mrr, 'count': 7}}))
    command = quality._full_command(runs[run], str(tmp_path), None)
    (workdir / 'quality_run.json').write_text(json.dumps(
        {'command': quality.shell_join(command), 'code': 'abc',
         'seconds': 2.0}))
  collected = quality.collect(plan, str(tmp_path), None)
  collected['targets'] = {'d': [target.__dict__]}
  text = quality.markdown(plan, collected)
  assert '| `d` | MtaIMKG mixture | 0.345 ± 0.015 | 7 | `m`, `m_seed1` |' in (
      text)
  assert 'MtaIMKG mixture 0.345: not met (gap 0.005)' in text
  assert ('mixture MRR 0.345 vs its own backbone alone 0.310 (+0.035; mean '
          'of 2 seeds, per seed +0.060, +0.010; target +0.02: met)' in text)
  assert '--config.seed=1 --workdir' in text  # the replicate's command
  # Collected again with the run directories gone, nothing changes.
  shutil.rmtree(tmp_path / 'm_seed1')
  again = quality.collect(plan, str(tmp_path), None, collected)
  assert again['rows'] == collected['rows']
