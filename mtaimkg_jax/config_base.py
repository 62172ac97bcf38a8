"""The config schema: every key the project reads, once.

Each `Key` has its default, its check, its role and its doc; from the
one list `KEYS` come `base_config()` (the defaults), the per-key checks
of `config_check.validate`, the key sets that say what a checkpoint's
saved config decides (`keys_with_role`) and the key list of
docs/configuration.md (`markdown()`, `python -m mtaimkg_jax.config_base`).
Experiment presets live in `configs/` and state only what they change;
`--config.<key>=...` overrides any key.

Roles:
- `model`: what a checkpoint is (its parameters and what they read);
  evaluation and prediction take it from the run's saved config.
- `runtime`: how a model runs, not what it is (evaluation may change it).
- `ranking`: read at ranking only (training ignores it): a finished run
  ranks its checkpoint again with another value.
- `data`: the data a run draws from; a resumed run must agree on it.
- `training`, `evaluation`, `run`: the rest.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any, Callable

import ml_collections

ROLES = ('model', 'runtime', 'ranking', 'data', 'training', 'evaluation',
         'run')

# A check returns None when the value is fine, else what is wrong with it.
Check = Callable[[Any], 'str | None']


@dataclasses.dataclass(frozen=True)
class Key:
  name: str  # 'section.key'
  default: Any
  check: Check
  role: str
  doc: str


def integer(minimum: int, maximum: int | None = None) -> Check:
  def check(value):
    if not isinstance(value, int) or isinstance(value, bool):
      return f'must be an integer, got {value!r}'
    if value < minimum or (maximum is not None and value > maximum):
      bound = f'≥ {minimum}' + (f' and ≤ {maximum}' if maximum is not None
                                else '')
      return f'must be {bound}, got {value!r}'
    return None
  return check


def number(minimum: float, exclusive: bool = False,
           maximum: float | None = None, below: bool = False) -> Check:
  """A finite number ≥ `minimum` (> with `exclusive`), ≤ `maximum` (<
  with `below`)."""
  def check(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      return f'must be a number, got {value!r}'
    if not math.isfinite(value):
      return f'must be finite, got {value!r}'
    if value < minimum or (exclusive and value == minimum):
      return f'must be {">" if exclusive else "≥"} {minimum}, got {value!r}'
    if maximum is not None and (value > maximum or
                                (below and value == maximum)):
      return f'must be {"<" if below else "≤"} {maximum}, got {value!r}'
    return None
  return check


def choice(*allowed) -> Check:
  def check(value):
    return None if value in allowed else (
        f'must be one of {allowed}, got {value!r}')
  return check


def boolean(value) -> str | None:
  return None if isinstance(value, bool) else (
      f'must be True or False, got {value!r}')


def string(value) -> str | None:
  return None if isinstance(value, str) else (
      f'must be a string, got {value!r}')


def names(*allowed: str) -> Check:
  """Distinct names among `allowed`, as a tuple or list."""
  def check(value):
    if (not isinstance(value, (tuple, list)) or
        any(v not in allowed for v in value) or len(set(value)) != len(value)):
      return f'must be distinct names among {allowed}, got {value!r}'
    return None
  return check


def fractions(value) -> str | None:
  """A non-empty tuple or list of distinct numbers in [0, 1]."""
  if (not isinstance(value, (tuple, list)) or not value or
      any(isinstance(v, bool) or not isinstance(v, (int, float)) or
          not 0 <= v <= 1 for v in value) or len(set(value)) != len(value)):
    return f'must be distinct numbers in [0, 1], at least one, got {value!r}'
  return None


def later(value) -> None:
  """Checked with the keys it depends on (`config_check`)."""
  del value


def _stop_at(value) -> str | None:
  if not isinstance(value, int) or isinstance(value, bool) or (
      value != -1 and value < 1):
    return f'must be -1 (off) or ≥ 1, got {value!r}'
  return None


_TASKS = ('lp', 'ea', 'el')
_VIEWS = ('neighbours', 'surface', 'anchors', 'native')
_MODALITIES = ('text', 'image') + _VIEWS
_ABLATIONS = ('modalities', 'edge_gates', 'modality_terms')

KEYS = (
    Key('seed', 0, integer(0), 'data',
        'Seed of everything random: parameters, batches, EA seed split.'),
    Key('tasks', (('lp', 'lp/synthetic', 1.0),), later, 'data',
        '(task, dataset, weight) triples: datasets are paths under '
        'data.root, or `<task>/synthetic[@option=value,...]` for the '
        'generated graphs.'),
    Key('init_workdir', '', string, 'run',
        'eval/transfer: rank with this run\'s checkpoint.'),
    Key('data.root', '../shared/data', string, 'run',
        'Directory the datasets are read from.'),
    Key('data.cache_dir', '', string, 'run',
        'Encoded-text cache; \'\' → $MTAIMKG_CACHE or '
        '~/.cache/mtaimkg_jax.'),
    Key('data.synthetic', ml_collections.ConfigDict({'seed': 0}), later,
        'data', 'Synthetic generator options (data/synthetic.py '
        'SyntheticSpec); seed picks the graph.'),
    Key('data.strict', False, boolean, 'run',
        'Suspicious but legal data (split overlaps, duplicates; '
        'data/hygiene.py) is an error instead of a counted warning.'),
    Key('features.k', 32, integer(1), 'model',
        'Dimension every modality is unified to.'),
    Key('features.text_encoder', 'minilm', later, 'model',
        'Text encoder of entity and mention texts.'),
    Key('features.unification', 'pca', choice('pca', 'none'), 'model',
        '\'pca\' (centre, PCA, sign, scale) or \'none\' (ablation; '
        'data/features.py).'),
    Key('features.views', (), names(*_VIEWS), 'model',
        'Derived views added as modalities of their own (data/views.py); '
        '() is text, image and structure alone.'),
    Key('features.view_tasks', ml_collections.ConfigDict(
        {view: _TASKS for view in _VIEWS}), later, 'model',
        'The tasks whose graphs get each view, e.g. surface=(\'ea\', '
        '\'el\').'),
    Key('ea.train_ratio', 0.3, number(0, exclusive=True, maximum=1,
                                      below=True), 'data',
        'Share of the gold pairs that are training seeds.'),
    Key('ea.candidates', 'test', choice('test', 'all'), 'data',
        'EA candidates: the test pairs\' counterparts, or all of graph 2.'),
    Key('ea.valid_fraction', 0.0, number(0, maximum=1, below=True), 'data',
        'Share of the seed pairs held out of training as validation '
        'queries (the test split does not change).'),
    Key('el.valid_fraction', 0.0, number(0, maximum=1, below=True), 'data',
        'Share of the training mentions held out as validation queries '
        '(EL datasets without valid.json).'),
    Key('padding.budgets', (), later, 'runtime',
        '() → automatic buckets; else dicts of sizes (nodes, edges, '
        'relations, relation_edges).'),
    Key('model.name', 'mtaimkg', choice('mtaimkg', 'ultra'), 'model',
        '\'mtaimkg\' (the full model) or \'ultra\' (structure only); the '
        'parameter-free floors are --mode=baseline (eval.baseline).'),
    Key('model.dim', 64, integer(1), 'model', 'GNN width.'),
    Key('model.num_layers', 6, integer(1), 'model',
        'Layers of the relation and entity GNNs.'),
    Key('model.task_dim', 16, integer(1), 'model', 'Task embedding width.'),
    Key('model.routing', True, boolean, 'model',
        'False: the per-task base weights of the logit terms only, no '
        'router (ablation).'),
    Key('model.num_experts', 4, integer(1), 'model',
        'Experts of the router\'s mixture (1: no mixture, ablation).'),
    Key('model.expert_hidden', 64, integer(1), 'model',
        'Hidden width of each expert.'),
    Key('model.top_k', 0, integer(0), 'model', '0: dense softmax gate.'),
    Key('model.gate_hidden', 16, integer(1), 'model',
        'Width of the MLP that turns each edge\'s similarities into its '
        'gates.'),
    Key('model.graph_evidence', False, boolean, 'model',
        'The router reads each term\'s evidence on the query\'s graph (how '
        'well the term alone ranks the graph\'s own facts, per relation, '
        'data/evidence.py); False: the router of checkpoints made before '
        'it.'),
    Key('model.without', (), names(*(_ABLATIONS + _MODALITIES)), 'runtime',
        'Ablation at evaluation, no parameter changes: \'modalities\' (the '
        'backbone alone), \'edge_gates\' or \'modality_terms\' (one path '
        'of the modalities) and/or modality names.'),
    Key('model.remat', False, boolean, 'runtime',
        'Rematerialise GNN layers (memory for time).'),
    Key('model.chunk_size', 8192, integer(1), 'runtime',
        'Candidates scored per chunk in ranking.'),
    Key('model.names_prior', 10.0, number(0), 'model',
        'The names prior: the initial weight of the query terms (the names\''
        ' cosine) in EA/EL logits, learned per task and modality '
        '(models/terms.py); also the unit of what the evidence adds.'),
    Key('model.num_references', 0, integer(0), 'ranking',
        'Reference queries a task whose queries share one relation centres '
        'its learned terms on at ranking (EA: training seeds; EL: training '
        'mentions); 0: not centred.'),
    Key('model.fact_gate', False, boolean, 'ranking',
        'Before ranking an LP graph, scale its modality terms by what ranks '
        'a sample of the graph\'s own held-out facts best (eval/'
        'fact_gate.py); False: as trained (checkpoints made before it).'),
    Key('model.backbone_merges', (1.0,), fractions, 'ranking',
        'Backbones a checkpoint ranks with: init + w x (trained - init) for '
        'each w, init being the weights training started from '
        '(model.init_checkpoint; weight-space ensembling). With '
        'model.fact_gate an LP graph ranks with the one that ranks a sample '
        'of its own facts best (eval/fact_gate.py), other graphs with the '
        'first; (1.0,): as trained.'),
    Key('model.init_checkpoint', '', string, 'runtime',
        'ULTRA .pth or Orbax params directory the backbone starts from.'),
    Key('model.freeze_backbone', False, boolean, 'model',
        'The backbone gets no updates.'),
    Key('train.num_steps', 1000, integer(0), 'training', 'Training steps.'),
    Key('train.batch_size', 16, integer(1), 'training', 'Queries per step.'),
    Key('train.num_negatives', 64, integer(1), 'training',
        'Negatives per query.'),
    Key('train.num_hard_negatives', 8, integer(0), 'training',
        'EA/EL: of them, the nearest by features.'),
    Key('train.learning_rate', 5e-4, number(0, exclusive=True), 'training',
        'Peak learning rate (AdamW, warmup then cosine).'),
    Key('train.backbone_lr_scale', 1.0, number(0, maximum=1), 'training',
        'The backbone\'s learning rate as a fraction of learning_rate (< 1 '
        'keeps it near its initial, e.g. ULTRA, weights).'),
    Key('train.warmup_steps', 50, integer(0), 'training', 'Warmup steps.'),
    Key('train.final_lr_fraction', 0.05, number(0, maximum=1), 'training',
        'Learning rate at the end, as a fraction of the peak.'),
    Key('train.weight_decay', 0.01, number(0), 'training', 'AdamW decay.'),
    Key('train.grad_clip', 1.0, number(0, exclusive=True), 'training',
        'Global-norm gradient clip.'),
    Key('train.adversarial_temperature', 1.0, number(0), 'training',
        'LP: self-adversarial negative weighting temperature.'),
    Key('train.contrastive_loss', 'bce', choice('bce', 'infonce'),
        'training', 'EA/EL loss.'),
    Key('train.contrastive_temperature', 1.0, number(0, exclusive=True),
        'training', 'EA/EL loss temperature.'),
    Key('train.balance_weight', 0.01, number(0), 'training',
        'Weight of the mixture\'s load-balancing loss.'),
    Key('train.log_every', 50, integer(1), 'training', 'Steps per log line.'),
    Key('train.checkpoint_every', 200, integer(1), 'training',
        'Steps per checkpoint.'),
    Key('train.keep_checkpoints', 3, integer(1), 'training',
        'Checkpoints kept.'),
    Key('train.stop_at_step', -1, _stop_at, 'training',
        '> 0: save and stop there (resumable).'),
    Key('eval.batch_size', 16, integer(1), 'evaluation', 'Ranking batch.'),
    Key('eval.split', 'test', choice('train', 'valid', 'test'),
        'evaluation', 'The split ranked.'),
    Key('eval.ties', 'realistic', choice('realistic', 'pessimistic',
                                         'optimistic'), 'evaluation',
        'Exact score ties: \'realistic\' (half count against the answer), '
        '\'pessimistic\' (ULTRA: all), \'optimistic\' (none).'),
    Key('eval.tasks', (), later, 'evaluation', '() → the training tasks.'),
    Key('eval.max_queries', 0, integer(0), 'evaluation',
        '> 0: rank a fixed, seeded subset of this many queries of the '
        'split (the same subset for every model).'),
    Key('eval.breakdown', ('direction', 'shared_name'),
        names('direction', 'relation', 'shared_name'), 'evaluation',
        'Metrics also broken down by \'direction\' (LP), \'relation\' and '
        '\'shared_name\' (EA, EL: answers whose name another candidate '
        'has), under each dataset\'s results.'),
    Key('eval.save_every_seconds', 60.0, number(0), 'evaluation',
        'Ranks so far are saved this often, so a killed evaluation '
        'resumes.'),
    Key('eval.sinkhorn_temperature', 0.0, number(0), 'evaluation',
        'EA only, > 0: also rank after one-to-one matching (log-domain '
        'Sinkhorn), results key \'<dataset>:sinkhorn\'.'),
    Key('eval.sinkhorn_iterations', 20, integer(1), 'evaluation',
        'Sinkhorn iterations.'),
    Key('eval.calibrate_learned_scale', False, boolean, 'evaluation',
        'EA and EL: also rank test with the learned terms (structure and '
        'prototype terms) scaled by the factor that ranks the held-out '
        'queries best; results key \'<dataset>:calibrated\'.'),
    Key('eval.calibration_min_queries', 100, integer(1), 'evaluation',
        'Fewer held-out queries than this cannot choose the scale: an '
        'error, not a guess.'),
    Key('eval.self_training_rounds', 0, integer(0), 'evaluation',
        'One-to-one tasks (EA): rounds of ranking again with the mutual '
        'best pairs of the last ranking as pseudo seed pairs '
        '(eval/self_training.py); 0: off (chosen on ja_en\'s held-out '
        'seed pairs: docs/experiments/2026-12-07-self-training.md).'),
    Key('eval.self_training_margin', 0.0, number(0), 'evaluation',
        'A pseudo seed pair\'s query scores its candidate at least this '
        'much above its second best.'),
    Key('eval.gate_queries', 512, integer(1), 'evaluation',
        'Fact edges the fact gate (model.fact_gate) ranks to choose its '
        'scale.'),
    Key('eval.baseline', '', choice('', 'feature_cosine',
                                    'relation_frequency'), 'evaluation',
        '--mode=baseline: the parameter-free floor to rank with '
        '(eval/baselines.py); \'\' is each task kind\'s own.'),
)

_BY_NAME = {key.name: key for key in KEYS}


def key(name: str) -> Key:
  return _BY_NAME[name]


def keys_with_role(*roles: str) -> tuple[str, ...]:
  assert set(roles) <= set(ROLES), roles
  return tuple(k.name for k in KEYS if k.role in roles)


def base_config() -> ml_collections.ConfigDict:
  """Every key the project reads, with its default."""
  config = ml_collections.ConfigDict()
  for entry in KEYS:
    *sections, leaf = entry.name.split('.')
    node = config
    for section in sections:
      if section not in node:
        node[section] = ml_collections.ConfigDict()
      node = node[section]
    default = entry.default
    node[leaf] = (ml_collections.ConfigDict(default.to_dict())
                  if isinstance(default, ml_collections.ConfigDict)
                  else default)
  return config


def markdown() -> str:
  """The key list of docs/configuration.md."""
  lines = ['| key | default | role | what |', '|---|---|---|---|']
  for entry in KEYS:
    default = entry.default
    if isinstance(default, ml_collections.ConfigDict):
      default = default.to_dict()
    doc = entry.doc.replace('|', '\\|')
    lines.append(f'| `{entry.name}` | `{default!r}` | {entry.role} | {doc} |')
  return '\n'.join(lines) + '\n'


if __name__ == '__main__':
  sys.stdout.write(markdown())
