r"""Time and peak memory of the full model against graph size, up to
graphs of millions of edges, on synthetic LP graphs
(`synthetic.make_scale_lp`: 10 triples per entity, of which 90% are
facts: 18 directed edges per node with inverses).

  python benchmarks/scale.py --json benchmarks/results/scale.json \
      --plot benchmarks/results/scale.png

Every (size, remat) point runs in a fresh process, so its peak resident
memory is its own. A point measures: building the graph; one train step
of the full model (`--batch` queries, `--negatives` candidates each;
median of `--repeats` after a warm-up); ranking `--ranking-queries` test
queries against every node with the full model and with the structure
alone (throughput.py's `ranking`); the resident memory once the graph is
on the device, and the resident peak of each phase (building the graph,
training, ranking; Linux's VmHWM, reset between phases). From these it
derives seconds per edge and the log-log slope of time against edges
(linear growth, a slope within 20% of 1, is the target) and the memory
model: the peak as a line in edges, per query·edge·dim and per
query·node·dim·layer, and the largest graph it fits in a few budgets.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

if __name__ == '__main__':
  from mtaimkg_jax import runtime  # pylint: disable=g-import-not-at-top
  runtime.reexec_with_huge_page_malloc(sys.argv)

from benchmarks import throughput  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data import padding, synthetic  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data.batches import TrainSampler  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data.featurize import featurize  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data.graph import build_lp  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.models.model import MtaIMKG, StructureOnly  # pylint: disable=g-import-not-at-top,wrong-import-position

GIB = 2**30
# Memory budgets the largest graph is stated for (bytes): this machine, a
# 16 GB and an 80 GB GPU, a TPU v4 chip (32 GiB HBM).
BUDGETS = {'cpu_24GiB': 24 * GIB, 'gpu_16GB': 16e9, 'tpu_v4_32GiB': 32 * GIB,
           'gpu_80GB': 80e9}


def resident_bytes() -> int:
  """The process's resident memory now (Linux /proc; 0 elsewhere)."""
  try:
    with open('/proc/self/statm') as f:
      return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
  except OSError:
    return 0


def reset_peak() -> None:
  """Starts a new peak-memory window (Linux: VmHWM := current RSS)."""
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')
  except OSError:
    pass


def peak_bytes() -> int:
  """The resident peak since `reset_peak` (Linux VmHWM; elsewhere the
  process's whole peak)."""
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  return throughput.peak_memory_bytes()


def measure_point(args) -> dict:
  """One (size, remat) point, in this process."""
  jnp.zeros(1).block_until_ready()  # the runtime up, before any graph
  process_bytes = resident_bytes()
  start = time.perf_counter()
  task = synthetic.make_scale_lp(synthetic.ScaleSpec(
      num_entities=args.point, triples_per_entity=args.triples_per_entity))
  graph = featurize(build_lp(task), args.feature_dim)
  build_seconds = time.perf_counter() - start
  budget = padding.choose_budget(graph)
  arrays = jax.tree_util.tree_map(
      jnp.asarray, padding.graph_arrays(graph, budget, args.feature_dim))
  build_peak = peak_bytes()
  graph_bytes = resident_bytes()
  reset_peak()
  sampler = TrainSampler(graph, budget, args.batch, args.negatives, seed=0)
  batch = jax.tree_util.tree_map(jnp.asarray, sampler.batch(0))
  model = MtaIMKG(args.dim, args.layers, remat=args.remat)
  params = jax.jit(model.init)(jax.random.PRNGKey(0), arrays, batch.queries,
                               batch.candidates)['params']
  step, state = throughput.training_step(model, params)
  train, state = throughput.timed_training(step, state, (arrays, batch),
                                           args.repeats, 1)
  train_peak = peak_bytes()
  reset_peak()
  structure = StructureOnly(args.dim, args.layers, remat=args.remat)
  ranked = throughput.ranking(
      args, graph, budget, arrays,
      ((model, state.params),
       (structure, {'backbone': state.params['backbone']})))
  rank_peak = peak_bytes()
  return {'entities': graph.num_nodes, 'edges': graph.num_edges,
          'budget': str(budget), 'batch': args.batch, 'dim': args.dim,
          'layers': args.layers, 'remat': args.remat,
          'build_seconds': build_seconds,
          'train_step': train, 'ranking': ranked,
          'process_resident_bytes': process_bytes,
          'graph_resident_bytes': graph_bytes,
          'peak_resident_bytes': {'build': build_peak, 'train': train_peak,
                                  'ranking': rank_peak},
          'backend': jax.default_backend()}


def run_point(args, entities: int, remat: bool) -> dict:
  """`measure_point` in a fresh process (its own peak memory)."""
  command = [sys.executable, os.path.abspath(__file__), '--point',
             str(entities), '--batch', str(args.batch), '--dim',
             str(args.dim), '--layers', str(args.layers), '--negatives',
             str(args.negatives), '--ranking-queries',
             str(args.ranking_queries), '--repeats', str(args.repeats),
             '--triples-per-entity', str(args.triples_per_entity),
             '--feature-dim', str(args.feature_dim)] + (
                 ['--remat'] if remat else [])
  out = subprocess.run(command, check=True, stdout=subprocess.PIPE,
                       text=True).stdout
  return json.loads(out.strip().splitlines()[-1])


def linearity(points: list[dict], seconds) -> dict:
  """Seconds per edge across the sweep (`seconds(point)`): its largest over
  smallest value (1 = exactly linear), the log-log slope, and whether
  that slope is within 20% of linear."""
  edges = np.asarray([p['edges'] for p in points], float)
  times = np.asarray([seconds(p) for p in points], float)
  per_edge = times / edges
  slope = float(np.polyfit(np.log(edges), np.log(times), 1)[0]) if len(
      points) > 1 else None
  return {'max_over_min_seconds_per_edge': float(per_edge.max() /
                                                 per_edge.min()),
          'loglog_slope': slope,
          'slope_within_20_percent_of_linear': slope is not None and abs(
              slope - 1) <= 0.2}


def memory_model(points: list[dict]) -> dict:
  """The peak of a point (training or ranking, whichever is higher) as a
  line in edges across the sweep (fixed
  batch, dims, layers and edges per node): its slope per query·edge·dim
  and per query·node·dim·layer, its intercept (the runtime), and the
  largest graph that line fits in each of `BUDGETS`."""
  last = points[-1]
  edges = np.asarray([p['edges'] for p in points], float)
  peaks = np.asarray([max(p['peak_resident_bytes']['train'],
                          p['peak_resident_bytes']['ranking'])
                      for p in points], float)
  slope, intercept = np.polyfit(edges, peaks, 1)
  edges_per_node = last['edges'] / last['entities']
  batch, dim, layers = last['batch'], last['dim'], last['layers']
  return {'peak_bytes_per_edge': float(slope),
          'fixed_bytes': float(intercept),
          'bytes_per_query_edge_dim': float(slope / (batch * dim)),
          'bytes_per_query_node_dim_layer': float(
              slope * edges_per_node / (batch * dim * layers)),
          'largest_edges': {name: int((budget - intercept) / slope)
                            for name, budget in BUDGETS.items()},
          'largest_nodes': {name: int((budget - intercept) / slope /
                                      edges_per_node)
                            for name, budget in BUDGETS.items()},
          'at': {'batch': batch, 'dim': dim, 'layers': layers,
                 'edges_per_node': edges_per_node}}


def plot(path: str, report: dict) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for remat, points in report['points'].items():
    edges = [p['edges'] for p in points]
    axes[0].loglog(edges, [p['train_step']['median_seconds'] for p in points],
                   'o-', label=f'train step, remat={remat}')
    axes[0].loglog(edges, [p['ranking']['full_seconds'] /
                           p['ranking']['queries'] for p in points], 's--',
                   label=f'ranking, s/query, remat={remat}')
    for phase, style in (('train', 'o-'), ('ranking', 's--')):
      axes[1].loglog(edges, [p['peak_resident_bytes'][phase] / GIB
                             for p in points], style,
                     label=f'{phase} peak, remat={remat}')
  axes[0].set_xlabel('directed edges')
  axes[0].set_ylabel('seconds')
  axes[0].legend(fontsize=7)
  axes[1].axhline(24, color='grey', linestyle=':', label='24 GiB')
  axes[1].set_xlabel('directed edges')
  axes[1].set_ylabel('peak resident memory (GiB)')
  axes[1].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  # From 25k entities up: at 12.5k a train step took 0.57 s against 2.07 s
  # at twice the edges, likely because its node states (15 MB at B = 4,
  # D = 64) fit this machine's 32 MB L3 cache.
  parser.add_argument('--entities', default='25000,50000,100000,200000')
  parser.add_argument('--triples-per-entity', type=float, default=10.0)
  parser.add_argument('--batch', type=int, default=4)
  parser.add_argument('--dim', type=int, default=64)
  parser.add_argument('--layers', type=int, default=6)
  parser.add_argument('--negatives', type=int, default=64)
  parser.add_argument('--feature-dim', type=int, default=32,
                      help='unified text dims (config.features.k)')
  parser.add_argument('--ranking-queries', type=int, default=32)
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--remat-modes', default='true,false',
                      help='remat settings swept (each point, each mode)')
  parser.add_argument('--point', type=int, default=0,
                      help='internal: measure this many entities and print')
  parser.add_argument('--remat', action='store_true')
  parser.add_argument('--json', default='')
  parser.add_argument('--plot', default='')
  args = parser.parse_args(argv)
  if args.point:
    print(json.dumps(measure_point(args)))
    return None
  sizes = [int(n) for n in args.entities.split(',')]
  report = {'points': {}, 'linearity': {}, 'memory_model': {}}
  for mode in args.remat_modes.split(','):
    remat = mode == 'true'
    points = [run_point(args, n, remat) for n in sizes]
    report['points'][mode] = points
    report['linearity'][mode] = {
        'train_step': linearity(points,
                                lambda p: p['train_step']['median_seconds']),
        'ranking': linearity(points, lambda p: p['ranking']['full_seconds'])}
    report['memory_model'][mode] = memory_model(points)
  throughput.write_report(report, args.json)
  if args.plot:
    plot(args.plot, report)
  return report


if __name__ == '__main__':
  main()
