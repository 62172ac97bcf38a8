"""Results as data: one immutable record per evaluated result of a run.

Every evaluation (`eval/runner.py`) writes, per results key (a dataset,
or its one-to-one / calibrated / prior-only ranking), one JSON record
under `<workdir>/records/` and the per-query ranks beside it (`.npz`):
what ran (the argv as typed, the commit and whether the tree was dirty,
the resolved config's hash), what it ranked with (the parameters'
fingerprint and step, and the fingerprint of the source they came from),
on what (dataset, split, queries) and what it measured (metrics with
their standard errors and 95% intervals, routing shares, graph evidence,
wall time, machine). A record is written once and never rewritten:
`benchmarks/quality.py` renders every table from records, and a record
whose source has since changed is shown stale.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

import flax
import jax
import ml_collections
import numpy as np

from mtaimkg_jax import metrics

RECORDS_DIR = 'records'
# The results-key suffix of ranks after one-to-one matching
# (`eval.matching`), whose records also keep the matching's settings.
ONE_TO_ONE = ':sinkhorn'
# How each results key was ranked (suffix after the dataset): 'plain' is
# the model's own ranking; the others add a step outside the model.
VARIANTS = {'': 'plain', ONE_TO_ONE: 'one-to-one',
            ':calibrated': 'calibrated',
            ':calibrated' + ONE_TO_ONE: 'calibrated one-to-one',
            ':prior': 'prior-only', ':prior' + ONE_TO_ONE:
            'prior-only one-to-one'}
_PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_STARTED = time.time()


def split_key(key: str) -> tuple[str, str]:
  """`'ea/DBP15K/zh_en:sinkhorn'` → (`'ea/DBP15K/zh_en'`, `'one-to-one'`)."""
  dataset, sep, suffix = key.partition(':')
  variant = VARIANTS.get(sep + suffix)
  if variant is None:
    raise ValueError(f'unknown results key suffix in {key!r}')
  return dataset, variant


def params_fingerprint(params: Any) -> str:
  """sha256 over every parameter's path, dtype, shape and bytes: the same
  digest for the same weights whatever device or process holds them."""
  digest = hashlib.sha256()
  flat = flax.traverse_util.flatten_dict(params)
  for path in sorted(flat):
    leaf = flat[path]
    if isinstance(leaf, jax.Array):  # replicated: any local copy
      leaf = leaf.addressable_data(0)
    value = np.ascontiguousarray(np.asarray(leaf))
    digest.update('/'.join(map(str, path)).encode())
    digest.update(f'{value.dtype}{value.shape}'.encode())
    digest.update(value.tobytes())
  return digest.hexdigest()


def file_fingerprint(path: str) -> str:
  """sha256 of a file's bytes (e.g. an ULTRA `.pth` a run started from)."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def config_hash(config: ml_collections.ConfigDict) -> str:
  return hashlib.sha256(
      config.to_json_best_effort(sort_keys=True).encode()).hexdigest()


def invocation() -> list[str]:
  """This process's argv as typed (`python -m mtaimkg_jax.main ...` for
  the CLI)."""
  argv = list(sys.argv)
  if argv and argv[0].endswith(os.path.join('mtaimkg_jax', 'main.py')):
    return ['python', '-m', 'mtaimkg_jax.main'] + argv[1:]
  return argv


def code_version() -> dict[str, Any]:
  """{'commit', 'dirty'} of the checkout the package runs from (commit
  None outside a git checkout)."""

  def git(*args: str) -> str | None:
    try:
      return subprocess.run(['git', '-C', _PROJECT, *args], check=True,
                            capture_output=True, text=True,
                            timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
      return None

  commit = git('rev-parse', 'HEAD')
  status = git('status', '--porcelain') if commit else None
  return {'commit': commit, 'dirty': bool(status) if commit else None}


def machine() -> dict[str, Any]:
  devices = jax.devices()
  return {'host': platform.node(), 'platform': platform.platform(),
          'cpus': os.cpu_count(), 'backend': jax.default_backend(),
          'devices': len(devices), 'device_kind': devices[0].device_kind,
          'processes': jax.process_count(), 'jax': jax.__version__}


def with_intervals(ranks: np.ndarray) -> dict[str, Any]:
  """Metrics of `ranks` with each mean metric's standard error over the
  queries and its normal 95% interval."""
  summary = metrics.summarize(ranks)
  ranks = np.asarray(ranks, np.float64)
  per_query = {'mrr': 1.0 / ranks}
  per_query.update({f'hits@{k}': (ranks <= k).astype(np.float64)
                    for k in metrics.HITS_AT})
  errors = {}
  for name, values in per_query.items():
    errors[name] = (float(np.std(values, ddof=1) / np.sqrt(len(values)))
                    if len(values) > 1 else float('nan'))
  return {'metrics': summary, 'stderr': errors,
          'interval95': {name: [summary[name] - 1.96 * se,
                                summary[name] + 1.96 * se]
                         for name, se in errors.items()}}


def run_id(workdir: str) -> str:
  """A run is named by its workdir's last path part."""
  return os.path.basename(os.path.normpath(workdir))


def write(workdir: str, key: str, *, config: ml_collections.ConfigDict,
          params: dict[str, Any], source: dict[str, Any], split: str,
          ranks: np.ndarray, query_ids: np.ndarray | None, seconds: float,
          extra: dict[str, Any] | None = None) -> str:
  """Writes the record of results key `key` and its ranks; returns the
  record's path. `params`: {'fingerprint', 'step'} of what ranked;
  `source`: where those parameters came from (`Experiment.source`). A
  one-to-one variant also records its matching's temperature and
  iterations, which its ranks depend on."""
  dataset, variant = split_key(key)
  stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
      '%Y%m%dT%H%M%S.%fZ')
  name = f'{stamp}_{key.replace("/", "_").replace(":", "-")}'
  directory = os.path.join(workdir, RECORDS_DIR)
  os.makedirs(directory, exist_ok=True)
  record = {
      'record': name, 'run': run_id(workdir), 'created': stamp,
      'argv': invocation(), 'code': code_version(),
      'config_hash': config_hash(config), 'seed': config.seed,
      'without': list(config.model.get('without', ())),
      'model': config.model.name, 'params': params, 'source': source,
      'key': key, 'dataset': dataset, 'variant': variant, 'split': split,
      'max_queries': config.eval.max_queries, 'seconds': round(seconds, 1),
      'process_seconds': round(time.time() - _STARTED, 1),
      'machine': machine(), 'ranks': f'{name}.npz',
      **with_intervals(ranks), **(extra or {})}
  if key.endswith(ONE_TO_ONE):
    record['matching'] = {
        'temperature': config.eval.sinkhorn_temperature,
        'iterations': config.eval.sinkhorn_iterations}
  ids = (np.asarray(query_ids, np.int64) if query_ids is not None else
         np.arange(len(ranks), dtype=np.int64))
  with open(os.path.join(directory, f'{name}.npz'), 'xb') as f:
    np.savez_compressed(f, ranks=np.asarray(ranks, np.float32), query_ids=ids)
  path = os.path.join(directory, f'{name}.json')
  with open(path, 'x') as f:
    json.dump(record, f, indent=1, sort_keys=True, default=_plain)
    f.write('\n')
  return path


def _plain(value: Any) -> Any:
  if isinstance(value, np.generic):
    return value.item()
  if isinstance(value, np.ndarray):
    return value.tolist()
  raise TypeError(f'not JSON serialisable: {type(value).__name__}')


def read_all(directory: str) -> list[dict[str, Any]]:
  """Every record (`*.json`) under `directory`, oldest first."""
  found = []
  for root, _, files in os.walk(directory):
    for name in files:
      if name.endswith('.json'):
        with open(os.path.join(root, name)) as f:
          record = json.load(f)
        record['_path'] = os.path.join(root, name)
        found.append(record)
  return sorted(found, key=lambda r: (r['created'], r['record']))


def load_ranks(record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
  """(query_ids, ranks) saved beside a record read by `read_all`."""
  path = os.path.join(os.path.dirname(record['_path']), record['ranks'])
  with np.load(path) as saved:
    return saved['query_ids'], saved['ranks']
