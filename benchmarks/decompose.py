r"""What each part of a trained model's EA and EL logits does, from the
scores its evaluation saved: the names prior (the routed query–candidate
cosines, the model's 'prior' logit term) against the learned terms (the
routed structure score and candidate–prototype cosines = logits − prior),
each ranked alone, and the prior with the learned terms scaled down; EA
also after one-to-one matching. It also splits the learned terms into
what they give a candidate whatever the query (their mean over the
queries: a popularity or hub score) and the rest, and ranks the model
without that per-candidate part, estimated from all the queries or from
the first query alone (how query-independent it is).

Run it with the training run's own flags (the workdir must hold a
finished evaluation that saved the score matrix: EA with one-to-one
matching, EA or EL with `eval.calibrate_learned_scale`):

  python benchmarks/decompose.py \
    --config configs/single.py:task=ea,dataset=ea/DBP15K/zh_en,steps=800 \
    --config.features.views="('neighbours',)" \
    --workdir workdir/quality/single_ea_zh_en_neighbours
  # a transfer (evaluation only) reads its source checkpoint's gates
  python benchmarks/decompose.py \
    --config configs/transfer.py:task=ea,dataset=ea/DBP15K/ja_en \
    --config.init_workdir=workdir/quality/mixture \
    --workdir workdir/quality/mixture_on_ja_en

A diagnostic on the test split: it says where a model loses to its own
prior; it never chooses a setting. Results go to
`benchmarks/results/decompose.json`, keyed by workdir and dataset.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags
import numpy as np

PROJECT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
from mtaimkg_jax import checkpoint, metrics  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data import loading  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data.tasks import KINDS  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.errors import ConfigError  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.eval import calibration, matching, ranking  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.experiment import build_model, eval_specs, resolve_init  # pylint: disable=g-import-not-at-top,wrong-import-position

_CONFIG = config_flags.DEFINE_config_file('config', None,
                                          'The run\'s config file.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'The run\'s workdir.')
_OUT = flags.DEFINE_string(
    'out', str(PROJECT / 'benchmarks' / 'results' / 'decompose.json'),
    'JSON file the results are merged into.')
# Scales of the learned terms added to the prior (1 = the model).
LEARNED_SCALES = (0.25, 0.5)
WITHOUT_BIAS = 'model − per-candidate mean of the learned terms'
WITHOUT_ONE_QUERY = 'model − the first query\'s learned terms'


def candidate_bias(learned: np.ndarray) -> tuple[np.ndarray, float]:
  """The learned terms' mean over the queries for each candidate [C] (0
  where none may compete), and the share of their variance it explains."""
  values = np.where(np.isfinite(learned), learned, np.nan)
  counts = np.sum(np.isfinite(values), axis=0)
  bias = np.nansum(values, axis=0) / np.maximum(counts, 1)
  explained = 1.0 - np.nanvar(values - bias) / np.nanvar(values)
  return bias.astype(np.float32), float(explained)


def most_top1(scores: np.ndarray) -> int:
  """How many queries rank their most frequent top-1 candidate first."""
  return int(np.bincount(np.argmax(scores, axis=1)).max())


def _summary(scores: np.ndarray, columns: np.ndarray, matched: bool,
             eval_cfg) -> dict:
  """H@1 and MRR of plain ranking (and of one-to-one, with `matched`)."""
  plain = metrics.summarize(matching.matrix_ranks(scores, columns,
                                                  eval_cfg.ties))
  out = {'hits@1': plain['hits@1'], 'mrr': plain['mrr']}
  if matched:
    one_to_one = metrics.summarize(matching.one_to_one_ranks(
        scores, columns, eval_cfg.sinkhorn_temperature,
        eval_cfg.sinkhorn_iterations, eval_cfg.ties))
    out.update({'one_to_one_hits@1': one_to_one['hits@1'],
                'one_to_one_mrr': one_to_one['mrr']})
  return out


def decompose(config, workdir: str) -> dict[str, dict[str, dict]]:
  """{dataset: {part: H@1 / MRR, plain (and one-to-one for EA)}} of each EA
  and EL eval dataset of `config`, from `workdir`'s saved scores and
  checkpoint."""
  # Where evaluation took its parameters: an evaluation-only run (a
  # transfer) reads its source's checkpoint.
  init = resolve_init(config, workdir)
  params = (checkpoint.Checkpoints(init.path, 1, 1000).latest_params()
            if init.kind in ('workdir', 'init_workdir') else None)
  if params is None:
    raise ConfigError('workdir', f'no checkpoint under {workdir!r}')
  modalities = build_model(config).modalities
  eval_cfg = config.eval
  out = {}
  for spec, graph in loading.load_graphs(config, eval_specs(config)):
    if not spec.kind.names_prior:
      continue
    matched = matching.matches(config, spec.kind)
    graph = graph.for_split(eval_cfg.split)
    path = ranking.saved_ranks_path(workdir, graph.key, eval_cfg.split)
    if not os.path.exists(path):
      raise ConfigError('workdir', f'{path} does not exist: evaluate the run '
                        'first')
    saved = np.load(path)
    if 'prior' not in saved.files:
      raise ConfigError(
          'eval.calibrate_learned_scale', f'{path} has no score matrix: '
          'the run was evaluated without a calibrated scale' +
          (' or one-to-one matching (eval.sinkhorn_temperature)'
           if graph.task == 'ea' else ''))
    scores, columns = saved['scores'], saved['columns']
    queries = graph.queries[eval_cfg.split]
    candidates = np.flatnonzero(graph.candidates)
    if scores.shape != (len(queries), len(candidates)) or np.any(
        candidates[columns[:, 0]] != queries.answers):
      raise ConfigError('workdir', f'{path} is not a finished evaluation of '
                        f'{graph.key}/{eval_cfg.split} with this config')
    prior, learned = calibration.parts(saved)
    parts = {'model': scores, 'prior': prior, 'learned': learned}
    parts.update({f'prior + {a:g} learned': calibration.scaled(prior, learned,
                                                               a)
                  for a in LEARNED_SCALES})
    bias, explained = candidate_bias(learned)
    first = np.where(np.isfinite(learned[0]), learned[0], 0.0)
    parts[WITHOUT_BIAS] = scores - bias
    parts[WITHOUT_ONE_QUERY] = scores - first
    out[graph.key] = {name: _summary(value, columns, matched, eval_cfg)
                      for name, value in parts.items()}
    out[graph.key]['learned variance per candidate'] = explained
    out[graph.key]['most top-1'] = {
        'model': most_top1(scores), WITHOUT_BIAS: most_top1(
            parts[WITHOUT_BIAS])}
    base = np.asarray(params['router']['base'])[KINDS[graph.task].id]
    out[graph.key]['gates'] = dict(zip(modalities, map(float, base[1:1 + len(
        modalities)])))
  return out


def main(argv) -> int:
  del argv
  logging.set_verbosity(logging.WARNING)  # no per-array Orbax chatter
  results = decompose(_CONFIG.value, _WORKDIR.value)
  out = pathlib.Path(_OUT.value)
  found = json.loads(out.read_text()) if out.exists() else {}
  for dataset, parts in results.items():
    found[f'{_WORKDIR.value} {dataset}'] = parts
    print(dataset)
    for name, m in parts.items():
      if isinstance(m, dict) and 'mrr' in m:
        matched = (f' | one-to-one H@1 {m["one_to_one_hits@1"]:.4f} '
                   f'MRR {m["one_to_one_mrr"]:.4f}'
                   if 'one_to_one_mrr' in m else '')
        print(f'  {name:<22} H@1 {m["hits@1"]:.4f} MRR {m["mrr"]:.4f}'
              + matched)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(found, indent=1, sort_keys=True) + '\n')
  return 0


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main)
