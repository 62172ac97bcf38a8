"""Runs the evaluators on every evaluated dataset of an experiment.

For each dataset of `config.eval.tasks` (default: the training tasks): rank
`config.eval.split` (`ranking`), then, where its task kind asks, rank after
one-to-one matching (`matching`) and at the learned-term scale chosen on
the held-out split (`calibration`); write `results.json` (with the
breakdowns of `config.eval.breakdown`), the routing files, and with
calibration `calibration.json`. Everything a dataset needs is checked
before the first query is ranked.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Iterable

import jax
import ml_collections
import numpy as np

from mtaimkg_jax import checkpoint, config_check, records, steps, summary
from mtaimkg_jax.data import evidence
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.errors import ConfigError, raise_together
from mtaimkg_jax.eval import (baselines, calibration, fact_gate, matching,
                              ranking, results as results_lib, routing,
                              self_training)
from mtaimkg_jax.experiment import Experiment, Prepared, resolve_init

Results = dict[str, dict[str, Any]]


def _subset(config, item: Prepared, split: str) -> Prepared:
  """`item` with `config.eval.max_queries` of `split`'s queries (all of
  them when 0); the padded arrays do not change."""
  if not config.eval.max_queries:
    return item
  return dataclasses.replace(item, graph=item.graph.with_subset(
      split, config.eval.max_queries))


def eval_split(config, graph: QueryGraph) -> str:
  """`config.eval.split`, which `graph` must have queries of."""
  split = config.eval.split
  if split not in graph.queries:
    raise ConfigError('eval.split', f'{graph.key} has no {split!r} queries '
                      f'(it has {sorted(graph.queries)})')
  if not len(graph.queries[split]):
    raise ConfigError('eval.split', f'{graph.key} has no {split!r} queries '
                      '(the split is empty)')
  return split


def check(experiment: Experiment) -> None:
  """What evaluation will read, checked before any training: every
  evaluated dataset loads, has the split, and (when calibrating) enough
  held-out queries, and the backbones to merge can be chosen among and
  their initial weights exist; the problems are raised together."""
  experiment.load_all(experiment.eval_specs)
  problems = []
  config = experiment.config
  if len(config.model.backbone_merges) > 1 and not config.model.fact_gate:
    # Checked here, on the config a checkpoint ranks with (its saved
    # ranking keys), not on the command line's.
    problems.append(ConfigError(
        'model.backbone_merges', f'{tuple(config.model.backbone_merges)} '
        'lists several backbones, which model.fact_gate chooses among; it '
        'is off'))
  path = config.model.init_checkpoint
  if (any(w != 1 for w in experiment.merge_weights) and
      not (path and os.path.exists(path))):
    problems.append(ConfigError(
        'model.backbone_merges', f'{experiment.merge_weights} merges the '
        'backbone with the weights training started from, '
        f'model.init_checkpoint, which is {path!r}: no such file'))
  for spec in experiment.eval_specs:
    graph = experiment.graph(spec)
    for test in (eval_split, calibration.calibrates):
      try:
        test(experiment.config, graph)
      except ConfigError as e:
        problems.append(e)
  raise_together(problems)


def _summaries(experiment: Experiment, split: str,
               ranked: dict[str, tuple[QueryGraph, np.ndarray, np.ndarray]]
               ) -> Results:
  """{key: metrics and breakdowns} of {key: (graph, ranks, query ids)};
  rankings after matching or calibration get no breakdown."""
  out = {}
  for key, (graph, ranks, query_ids) in ranked.items():
    out[key] = results_lib.summary(ranks)
    if records.split_key(key)[1] == 'plain':
      out[key].update(results_lib.breakdown(
          ranks, query_ids, graph, split, experiment.config.eval.breakdown))
  results_lib.log(out)
  return out


def _finish(experiment: Experiment, workdir: str, results: Results,
            step: int | None, provenance: dict[str, Any],
            ranked: dict[str, tuple[QueryGraph, np.ndarray, np.ndarray]],
            seconds: dict[str, float], extra: dict[str, dict]) -> Results:
  """Writes `results.json` (merged into what earlier evaluations of the
  workdir wrote, so no dataset's entry is lost), one record per results
  key (`records.write`) and the TensorBoard scalars."""
  if jax.process_index() == 0:
    for key in results:
      results[key]['ranked_with'] = provenance['params']
    path = os.path.join(workdir, 'results.json')
    checkpoint.write_json(path, {**checkpoint.read_json(path), **results})
    for key, (graph, ranks, query_ids) in ranked.items():
      dataset = records.split_key(key)[0]
      records.write(workdir, key, config=experiment.config,
                    params=provenance['params'], source=provenance['source'],
                    split=experiment.config.eval.split, ranks=ranks,
                    query_ids=query_ids, seconds=seconds[dataset],
                    extra={'queries': len(graph.queries[
                        experiment.config.eval.split]),
                           'breakdowns': {
                               name: value
                               for name, value in results[key].items()
                               if name.startswith('by_')},
                           **extra.get(dataset, {})})
    writer = summary.MetricWriter(os.path.join(workdir, 'tensorboard'))
    writer.write_scalars(step or 0, {
        f'eval/{key}/{metric}': value for key, values in results.items()
        for metric, value in values.items() if isinstance(value, float)})
    writer.close()
  return results


def evaluate(experiment: Experiment, params: Any, workdir: str,
             step: int | None = None) -> Results:
  """Ranks every query of each evaluated dataset with the model `params`
  (resumable, `ranking.SplitRanker`), its backbone merged as
  `model.backbone_merges` says (an LP graph: the fact gate's choice), and
  writes the results. Its callers ran `check` first, before training or
  restoring anything."""
  config = experiment.config
  fns = steps.make_steps(experiment.model, experiment.optimizer(params),
                         config, experiment.mesh)
  ranked, weights, scales, seconds, extra = {}, {}, {}, {}, {}
  evidence_seen = {}
  with checkpoint.Preemption() as preemption:
    backbones = experiment.backbones(params)
    rankers = {w: ranking.SplitRanker(config, workdir, fns, merged,
                                      experiment.mesh, preemption,
                                      experiment.terms)
               for w, merged in backbones.items()}
    for spec in experiment.eval_specs:
      started = time.time()
      split = eval_split(config, experiment.graph(spec))
      item = _subset(config, experiment.prepare(spec, split), split)
      graph, kind = item.graph, item.kind
      merge, gate = fact_gate.ranked_with(experiment.model, backbones, item,
                                          config, experiment.mesh)
      ranker = rankers[merge]
      calibrating = calibration.calibrates(config, graph)
      if calibrating:
        held_out = ranker.rank(experiment.prepare(spec, 'valid'), 'valid',
                               keep_scores=True)
        scales[graph.key] = calibration.choose(config, graph.key, held_out)
      matched = matching.matches(config, kind)
      self_trains = self_training.applies(config, kind)
      result = ranker.rank(
          item, split, keep_scores=matched or calibrating or self_trains,
          gate=gate)
      if self_trains:
        item, result, extra[graph.key] = _self_train(
            experiment, ranker, item, split, result)
        graph = item.graph
      else:
        extra[graph.key] = {}
      ranked[graph.key] = (graph, result['ranks'], result['query_ids'])
      weights[graph.key] = (graph.task, result['weights'].mean(axis=0))
      seen = evidence.report(graph, experiment.terms.modalities)
      evidence_seen[graph.key] = seen
      extra[graph.key].update(routing=dict(zip(
          experiment.terms.names, map(float, weights[graph.key][1]))),
                              evidence=seen['mean'])
      if tuple(config.model.backbone_merges) != (1.0,):
        extra[graph.key]['backbone_merge'] = merge
      if gate is not None:
        extra[graph.key]['fact_gate'] = gate
        evidence_seen[graph.key]['fact_gate'] = gate
      if matched:
        ranked[graph.key + records.ONE_TO_ONE] = (
            graph, matching.matched_ranks(config, result['scores'],
                                          result['columns']),
            result['query_ids'])
      if calibrating:
        for key, ranks in calibration.calibrated_ranks(
            config, graph, result,
            scales[graph.key]['learned_scale']).items():
          ranked[key] = (graph, ranks, result['query_ids'])
        extra[graph.key]['calibration'] = scales[graph.key]
      seconds[graph.key] = time.time() - started
  results = _summaries(experiment, config.eval.split, ranked)
  if jax.process_index() == 0:
    routing.write(workdir, weights, experiment.terms.names)
    checkpoint.write_json(os.path.join(workdir, 'evidence.json'),
                          evidence_seen)
    if scales:
      checkpoint.write_json(os.path.join(workdir, 'calibration.json'),
                            scales)
  return _finish(experiment, workdir, results, step,
                 experiment.provenance(params, step), ranked, seconds, extra)


def _self_train(experiment: Experiment, ranker: ranking.SplitRanker,
                item: Prepared, split: str, result: dict[str, np.ndarray]
                ) -> tuple[Prepared, dict[str, np.ndarray], dict[str, Any]]:
  """`eval.self_training_rounds` rounds of eval/self_training.py from the
  ranking `result` of `item`'s `split`: the last round's graph and
  ranking, and per round how many pseudo-seeds it fed and, where the
  graph holds out seed pairs, the precision of the same mining on them."""
  config = experiment.config
  margin = config.eval.self_training_margin
  first = item
  held_out = (experiment.prepare(first.spec, 'valid')
              if len(first.graph.queries.get('valid', ())) else None)
  rounds = []
  for number in range(1, config.eval.self_training_rounds + 1):
    pairs = self_training.pseudo_seeds(item.graph, split, result, margin)
    report = {'round': number, 'pseudo_seeds': len(pairs)}
    if held_out is not None:
      valid = ranker.rank(held_out, 'valid', keep_scores=True,
                          variant=f'self_training{number - 1}'
                          if number > 1 else '')
      mined = self_training.pseudo_seeds(held_out.graph, 'valid', valid,
                                         margin)
      report.update(held_out_mined=len(mined),
                    held_out_precision=self_training.precision(
                        held_out.graph, 'valid', mined))
    graph = self_training.with_seeds(first.graph, pairs, config)
    item = experiment.prepare_graph(first.spec, graph)
    if held_out is not None and number < config.eval.self_training_rounds:
      # The same seeded graph (its views and evidence do not depend on
      # which queries a split holds), with every query and the held-out
      # split's candidates.
      held_out = experiment.prepare_graph(first.spec, dataclasses.replace(
          graph, queries=experiment.graph(first.spec).queries).for_split(
              'valid'))
    result = ranker.rank(item, split, keep_scores=True,
                         variant=f'self_training{number}')
    logging.info('%s: self-training round %d: %s', graph.key, number, report)
    rounds.append(report)
  return item, result, {'self_training': rounds}


def rank_baselines(config: ml_collections.ConfigDict,
                   workdir: str) -> Results:
  """`--mode=baseline`: each evaluated dataset's parameter-free floor
  (`config.eval.baseline`, default its task kind's) on the same queries
  the model ranks; nothing is trained or restored."""
  if not workdir:
    raise ConfigError('workdir', 'a --workdir is required')
  experiment = Experiment(config, baseline=True)
  with checkpoint.WorkdirLock(workdir):
    return _evaluate_baselines(experiment, workdir)


def _evaluate_baselines(experiment: Experiment, workdir: str) -> Results:
  config = experiment.config
  check(experiment)
  ranked, seconds = {}, {}
  for spec in experiment.eval_specs:
    started = time.time()
    split = eval_split(config, experiment.graph(spec))
    item = _subset(config, experiment.prepare(spec, split), split)
    graph, kind = item.graph, item.kind
    score = baselines.BASELINES[config.eval.baseline or kind.baseline](
        graph, item.budget.nodes)
    rows = []
    if matching.matches(config, kind):
      score = matching.keeping_candidate_scores(
          score, np.flatnonzero(graph.candidates), rows)
    ranks, ids = baselines.evaluate_split(
        graph, split, item.budget, config.eval.batch_size,
        baselines.host_scorer(score, item.arrays, config.eval.ties))
    ranked[graph.key] = (graph, ranks, ids)
    if rows:
      ranked[graph.key + records.ONE_TO_ONE] = (
          graph, matching.matched_ranks(
              config, *(np.concatenate(parts) for parts in zip(*rows))), ids)
    seconds[graph.key] = time.time() - started
  return _finish(experiment, workdir,
                 _summaries(experiment, config.eval.split, ranked), None,
                 experiment.provenance(None, None), ranked, seconds, {})


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                        overridden: Iterable[str] = ()) -> Results:
  """Evaluates a checkpoint on `config.eval.tasks` (default `config.tasks`):
  the one `experiment.resolve_init` names, with the model its run saved in
  its config.json but for the keys the command line `overridden`. A
  dataset the checkpoint trained on must be split as it was."""
  if not workdir:
    raise ConfigError('workdir', 'a --workdir is required')
  init = resolve_init(config, workdir, overridden)
  config = init.config
  trained = (checkpoint.read_config(init.path)
             if init.kind in ('workdir', 'init_workdir') else None)
  if trained is not None:
    config_check.check_same_splits(trained, config)
  experiment = Experiment(config)
  with checkpoint.WorkdirLock(workdir):
    check(experiment)
    experiment.write_data_report(workdir)
    return evaluate(experiment, experiment.params_of(init), workdir)
