r"""What each graph's text says about its own facts: the router's evidence.

For each dataset, loaded as configs/mixture.py loads it (MiniLM text,
unified to 128 dims), the graph mean of the text terms' masked
self-prediction on the fact graph (data/evidence.py): MRR of the
query–candidate cosine and of the candidate–prototype cosine alone, the
popularity floor on the same held-out edges, and the gains over it.
Nothing here reads a valid or test split.

  python benchmarks/evidence.py lp/grail/WN18RR_v1_ind lp/MKG-Y

Writes a markdown table to stdout.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

PROJECT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
from configs import presets  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data import evidence, loading  # pylint: disable=g-import-not-at-top,wrong-import-position

COLUMNS = ('text.query_mrr', 'text.prototype_mrr', 'frequency_mrr',
           'text.query_gain', 'text.prototype_gain', 'text.homophily')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('datasets', nargs='+')
  parser.add_argument('--data-root', default=None)
  args = parser.parse_args(argv)
  config = presets.mixture_config(800)
  if args.data_root:
    config.data.root = args.data_root
  print('| dataset | ' + ' | '.join(COLUMNS) + ' | seconds |')
  print('|---|' + '---|' * (len(COLUMNS) + 1))
  for dataset in args.datasets:
    started = time.time()
    graph = loading.load_graph(config, loading.TaskSpec(
        dataset.split('/')[0], dataset, 1.0))
    mean = evidence.report(graph, ('text',))['mean']
    print(f'| `{dataset}` | ' + ' | '.join(f'{mean[c]:.3f}' for c in COLUMNS)
          + f' | {time.time() - started:.0f} |', flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
