r"""One-to-one matching's temperature, chosen on a held-out ranking.

EA's one-to-one rows match a whole test split's score matrix by Sinkhorn
(`eval.sinkhorn_temperature`), whose rows are the test queries and whose
columns are their counterparts: a square matrix. This reads the candidate
scores an evaluation kept of held-out seed pairs (`ea.valid_fraction`,
`eval.split=valid`; its `<workdir>/eval/<dataset>.valid.npz`), keeps the
columns of those pairs' own counterparts so that the matrix is square as
at test, and reports Hits@1 and MRR after matching at each temperature.
No test pair is read. `--all-columns` keeps every candidate instead: the
matrix a ranking of a subset of queries matches (fewer rows than
columns).

  python -m mtaimkg_jax.main --config=configs/transfer.py:task=ea,dataset=ea/DBP15K/ja_en \
    --mode=eval --config.init_workdir=<run> "--config.model.backbone_merges=(1.0,)" \
    --config.ea.valid_fraction=0.5 --config.eval.split=valid --workdir=<dir>
  python benchmarks/matching_temperature.py <dir>/eval/ea_DBP15K_ja_en.valid.npz

Results are appended to `benchmarks/results/matching_temperature.json`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import numpy as np

PROJECT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
from mtaimkg_jax import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.eval import matching  # pylint: disable=g-import-not-at-top,wrong-import-position

TEMPERATURES = (1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02)


def own_counterparts(scores: np.ndarray, columns: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
  """The [R, R'] scores of the rows' own answers' columns only, and each
  row's answer column in them."""
  if columns.shape[1] != 1 or np.any(columns < 0):
    raise ValueError('one answer per row expected (EA)')
  kept = np.unique(columns[:, 0])
  return scores[:, kept], np.searchsorted(kept, columns)


def sweep(scores: np.ndarray, columns: np.ndarray, iterations: int,
          temperatures=TEMPERATURES,
          all_columns: bool = False) -> dict[str, dict[str, float]]:
  """{'plain' | 'T=<t>': metrics} of the square held-out matrix (with
  `all_columns`, of the matrix as saved)."""
  if not all_columns:
    scores, columns = own_counterparts(scores, columns)
  out = {'plain': metrics.summarize(matching.matrix_ranks(scores, columns))}
  for temperature in temperatures:
    out[f'T={temperature}'] = metrics.summarize(matching.one_to_one_ranks(
        scores, columns, temperature, iterations))
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('saved', help='an evaluation\'s eval/<dataset>.valid.npz')
  parser.add_argument('--iterations', type=int, default=20,
                      help='Sinkhorn iterations (eval.sinkhorn_iterations)')
  parser.add_argument('--all-columns', action='store_true',
                      help='keep every candidate, not only the rows\' own '
                      'counterparts')
  parser.add_argument('--out', default=str(PROJECT / 'benchmarks' / 'results'
                                           / 'matching_temperature.json'))
  args = parser.parse_args(argv)
  saved = np.load(args.saved)
  if 'scores' not in saved.files:
    parser.error(f'{args.saved} kept no candidate scores (an EA ranking '
                 'with eval.sinkhorn_temperature > 0 keeps them)')
  result = sweep(saved['scores'], saved['columns'], args.iterations,
                 all_columns=args.all_columns)
  out = pathlib.Path(args.out)
  found = json.loads(out.read_text()) if out.exists() else {}
  saved_path = pathlib.Path(args.saved).resolve()
  # The run's directory name and the file: the same on any machine.
  key = f'{saved_path.parents[1].name}/{saved_path.name}'
  found[f'{key} iterations={args.iterations}' +
        ' all-columns' * args.all_columns] = result
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(found, indent=1, sort_keys=True) + '\n')
  print(f'{args.saved}: {len(saved["scores"])} queries, ' + (
      f'{saved["scores"].shape[1]} candidates' if args.all_columns else
      'square over their counterparts'))
  for name, values in result.items():
    print(f'  {name:>8}: H@1 {values["hits@1"]:.4f}  MRR {values["mrr"]:.4f}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
