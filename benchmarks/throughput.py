r"""XLA throughput of the entity GNN, the full model and a train step, side by
side with an independent PyTorch entity GNN, in one run on one machine.

  python benchmarks/throughput.py --data-root ../shared/data --graph lp/MKG-W \
      --batch 16 --dim 64 --layers 6 --json /tmp/tp.json --plot /tmp/tp.png
  python benchmarks/throughput.py --sweep-graphs lp/grail/fb237_v1_ind,lp/MKG-W,lp/FB15k-237 \
      --sweep-batches 4,16 --json /tmp/sweep.json --plot /tmp/sweep.png

Runs unchanged on CPU, GPU and TPU (torch side: CPU only, skipped with
--no-torch). Measures compile time, compilations, median step time after
warm-up, queries/s, query·edge·dim/s, peak memory, and the memory roofline
(bandwidth measured in the same run by a large array copy).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

if __name__ == '__main__':
  from mtaimkg_jax import runtime  # pylint: disable=g-import-not-at-top
  runtime.reexec_with_huge_page_malloc(sys.argv)

from mtaimkg_jax import parallel, steps  # pylint: disable=g-import-not-at-top
from mtaimkg_jax.data import datasets, padding, synthetic  # pylint: disable=g-import-not-at-top
from mtaimkg_jax.data.batches import TrainSampler  # pylint: disable=g-import-not-at-top
from mtaimkg_jax.data.featurize import featurize  # pylint: disable=g-import-not-at-top
from mtaimkg_jax.data.graph import build_lp  # pylint: disable=g-import-not-at-top
from mtaimkg_jax.models.backbone import EntityGNN, Ultra, condition_relation, propagate  # pylint: disable=g-import-not-at-top
from mtaimkg_jax import config_base, metrics  # pylint: disable=g-import-not-at-top
from mtaimkg_jax.data.batches import eval_batches  # pylint: disable=g-import-not-at-top
from mtaimkg_jax.models.model import MtaIMKG, StructureOnly  # pylint: disable=g-import-not-at-top

# Bytes one query·edge·dim must move at the least in a message-passing
# layer: the neighbour's state and the relation vector, float32 each.
BYTES_PER_QED = 8


class CompileCounter:
  """Counts XLA backend compilations through JAX's monitoring events."""

  def __init__(self):
    self.count = 0
    jax.monitoring.register_event_duration_secs_listener(self._event)

  def _event(self, name, duration, **kwargs):
    del duration, kwargs
    if name == '/jax/core/compile/backend_compile_duration':
      self.count += 1


def memory_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
  """Bytes/s of a large array copy (read + write), best of `repeats`."""
  source = np.ones(megabytes * 2**20 // 4, np.float32)
  target = np.empty_like(source)
  best = float('inf')
  for _ in range(repeats):
    start = time.perf_counter()
    np.copyto(target, source)
    best = min(best, time.perf_counter() - start)
  return 2 * source.nbytes / best


def matmul_flops_per_second(size: int = 2048, repeats: int = 5) -> float:
  """FLOP/s of a large float32 matmul on the default device, best of runs."""
  a = jnp.ones((size, size), jnp.float32)
  matmul = jax.jit(lambda x: x @ x)
  jax.block_until_ready(matmul(a))
  best = float('inf')
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(matmul(a))
    best = min(best, time.perf_counter() - start)
  return 2 * size**3 / best


def propagate_only(h, relation, arrays):
  """The message-passing core alone (one layer's gather-multiply-scatter)."""
  return propagate(h, relation, arrays.entity.edges['type'],
                   arrays.entity.senders, arrays.entity.receivers,
                   arrays.entity.edges['weight'])


def peak_memory_bytes() -> int:
  stats = jax.devices()[0].memory_stats() or {}
  if 'peak_bytes_in_use' in stats:
    return int(stats['peak_bytes_in_use'])
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def median_seconds(call, repeats: int) -> float:
  """Median wall time of `repeats` calls of the zero-argument `call`."""
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def timed(fn, args, repeats: int, warmup: int) -> dict:
  """Compile time (first call) and median time of later calls."""
  def call():
    jax.block_until_ready(fn(*args))
  start = time.perf_counter()
  call()
  compile_seconds = time.perf_counter() - start
  for _ in range(warmup):
    call()
  return {'compile_seconds': compile_seconds,
          'median_seconds': median_seconds(call, repeats)}


def training_forward(model, p, graph, batch):
  """The model's logits of a training batch as training computes them
  (its token mask: the batch's candidates, not chunks of them); the graph
  is an argument, not a constant XLA would fold into the compile."""
  token_mask = batch.candidate_valid & batch.queries.valid[:, None]
  return model.apply({'params': p}, graph, batch.queries, batch.candidates,
                     batch.edge_weight, token_mask).logits


def training_step(model, params):
  """The train step training runs (`steps.make_steps`: the task loss, the
  balance loss, AdamW at the default config) and a step-0 state of
  `params`: `step(state, graph, batch) → (state, scalars)`, which donates
  its state."""
  config = config_base.base_config()
  optimizer = optax.adamw(config.train.learning_rate)
  # On one device, as every other function here is measured.
  mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]),
                           (parallel.DATA_AXIS,))
  step = steps.make_steps(model, optimizer, config, mesh).train
  return step, parallel.replicate(steps.TrainState(
      jnp.zeros((), jnp.int32), params, optimizer.init(params)), mesh)


def timed_training(step, state, rest, repeats: int, warmup: int
                   ) -> tuple[dict, Any]:
  """`timed` for a step that donates its state (each call takes the state
  the last one returned); also returns the last state."""
  holder = [state]

  def call():
    holder[0], scalars = step(holder[0], *rest)
    return scalars

  return timed(call, (), repeats, warmup), holder[0]


def ranking(args, graph, budget, arrays, models) -> dict:
  """Seconds to rank the same fixed test queries (`--ranking-queries`, a
  seeded subset) with the full model and with the structure-only model,
  side by side in this run, as evaluation ranks them: the graph's
  query-independent part once, then every candidate scored, filtered
  ranks. One compilation each, before the clock; the two models take
  turns `--repeats` times and each gets its median."""
  subset = graph.with_subset('test', args.ranking_queries)
  index = jnp.asarray(padding.candidate_index(subset))
  nodes = arrays.entity.nodes
  candidates = nodes['candidate'] & nodes['real']
  batches = [jax.tree_util.tree_map(jnp.asarray, b) for b in eval_batches(
      subset, 'test', args.batch, budget)]
  passes = []
  for model, model_params in models:

    def rank(p, graph, batch, side, model=model):
      scored = jnp.concatenate([batch.answers, jnp.broadcast_to(
          index, (batch.answers.shape[0], index.shape[0]))], axis=1)
      logits = model.apply({'params': p}, graph, batch.queries,
                           scored, side=side, method='rank').logits
      return metrics.filtered_ranks_of_candidates(
          logits, batch.answers, batch.exclude, index, candidates)

    rank = jax.jit(rank)
    # As evaluation does: the graph's query-independent part once.
    graph_side = jax.jit(lambda p, g, model=model: model.apply(
        {'params': p}, g, method='graph_side'))
    rank(model_params, arrays, batches[0],
         graph_side(model_params, arrays)).block_until_ready()

    def rank_all(rank=rank, graph_side=graph_side, model_params=model_params):
      side = graph_side(model_params, arrays)
      for batch in batches:
        rank(model_params, arrays, batch, side).block_until_ready()

    passes.append(rank_all)
  seconds = [[] for _ in passes]
  for _ in range(args.repeats):
    for timings, rank_all in zip(seconds, passes):
      start = time.perf_counter()
      rank_all()
      timings.append(time.perf_counter() - start)
  full, structure = (statistics.median(t) for t in seconds)
  return {'queries': len(subset.queries['test']), 'full_seconds': full,
          'structure_seconds': structure,
          'full_over_structure': full / structure}


def load_graph(name: str, root: str):
  if name.endswith('synthetic'):
    task = synthetic.make_synthetic(synthetic.SyntheticSpec())['lp/synthetic']
  else:
    task = datasets.load_lp_task(root, name)
  return featurize(build_lp(task), 8)


def run(args, graph_name: str, batch: int) -> dict:
  graph = load_graph(graph_name, args.data_root)
  budget = padding.choose_budget(graph)
  arrays = jax.tree_util.tree_map(
      jnp.asarray, padding.graph_arrays(graph, budget, args.feature_dim))
  split = 'train' if 'train' in graph.queries else 'test'
  sampler = TrainSampler(graph, budget, batch, args.negatives, seed=0) if (
      split == 'train') else None
  if sampler is None:
    graph.queries['train'] = graph.queries['test']
    sampler = TrainSampler(graph, budget, batch, args.negatives, seed=0)
  train_batch = jax.tree_util.tree_map(jnp.asarray, sampler.batch(0))
  queries = train_batch.queries
  ultra = Ultra(args.dim, args.layers, remat=args.remat)
  params = ultra.init(jax.random.PRNGKey(0), arrays, queries.nodes,
                      queries.relations)['params']
  condition = condition_relation(queries.relations, arrays.num_base_relations)
  relation_states = jax.jit(lambda p, g, c: ultra.apply(
      {'params': p}, g.relation, c,
      method=lambda m, g, c: m.relation_model(g, c)))(params, arrays,
                                                      condition)
  entity = EntityGNN(args.dim, args.layers, remat=args.remat)
  entity_params = params['entity_model']

  def entity_forward(p, rel, nodes, qrel, weight):
    return entity.apply({'params': p}, arrays.entity, rel, nodes, qrel,
                        weight)[0]

  def entity_loss(p, rel, batch):
    h, query = entity.apply({'params': p['entity_model']}, arrays.entity,
                            rel, batch.queries.nodes, batch.queries.relations,
                            batch.edge_weight)
    h = jnp.swapaxes(h, 0, 1)
    h = jnp.take_along_axis(h, batch.candidates[:, :, None], axis=1)
    logits = ultra.apply({'params': p}, h, query,
                         method=Ultra.score_states)
    return steps.self_adversarial_bce(logits, batch.candidate_valid,
                                      batch.queries.valid, 1.0)

  optimizer = optax.adamw(5e-4)
  trained = {'entity_model': entity_params, 'mlp': params['mlp']}

  def entity_train_step(p, opt_state, rel, batch):
    loss, grads = jax.value_and_grad(entity_loss)(p, rel, batch)
    updates, opt_state = optimizer.update(grads, opt_state, p)
    return optax.apply_updates(p, updates), opt_state, loss

  # Candidates are scored in chunks of the config's default size, as
  # evaluation scores them.
  full = MtaIMKG(args.dim, args.layers, remat=args.remat,
                 chunk_size=config_base.base_config().model.chunk_size)
  full_params = full.init(jax.random.PRNGKey(1), arrays, queries,
                          train_batch.candidates)['params']

  def full_forward(p, graph, batch):
    return training_forward(full, p, graph, batch)

  full_step, full_state = training_step(full, full_params)

  forward_args = (entity_params, relation_states, queries.nodes,
                  queries.relations, train_batch.edge_weight)
  result = {'graph': graph_name, 'nodes': graph.num_nodes,
            'edges': graph.num_edges, 'batch': batch, 'dim': args.dim,
            'layers': args.layers, 'budget': str(budget),
            'backend': jax.default_backend(), 'devices': jax.device_count()}
  functions = {
      'entity_forward': (jax.jit(entity_forward), forward_args),
      'entity_train_step': (jax.jit(entity_train_step),
                            (trained, optimizer.init(trained),
                             relation_states, train_batch)),
      'model_forward': (jax.jit(full_forward),
                        (full_params, arrays, train_batch)),
  }
  jax_side = {name: timed(fn, fn_args, args.repeats, args.warmup)
              for name, (fn, fn_args) in functions.items()}
  jax_side['model_train_step'], trained_state = timed_training(
      full_step, full_state, (arrays, train_batch), args.repeats,
      args.warmup)
  functions['model_train_step'] = (full_step, ())
  states = functions['entity_forward'][0](*forward_args)
  projected = jnp.ones((arrays.relation.nodes['real'].shape[0], batch,
                        args.dim), jnp.float32)
  functions['propagate'] = (jax.jit(lambda h, r: propagate_only(h, r, arrays)),
                            (states, projected))
  jax_side['propagate'] = timed(*functions['propagate'], args.repeats,
                                args.warmup)
  qed = batch * graph.num_edges * args.dim * args.layers
  for name, entry in jax_side.items():
    per_step = qed / args.layers if name == 'propagate' else qed
    entry['queries_per_second'] = batch / entry['median_seconds']
    entry['qed_per_second'] = per_step / entry['median_seconds']
  jax_side['peak_memory_bytes'] = peak_memory_bytes()
  # Measured side by side in this run: what the modalities cost on top
  # of the entity GNN (gates, prototypes, routed terms, relation GNN).
  result['model_over_entity_train_step'] = (
      jax_side['model_train_step']['median_seconds'] /
      jax_side['entity_train_step']['median_seconds'])
  result['jax'] = jax_side
  result['ranking'] = ranking(args, graph, budget, arrays,
                              ((full, trained_state.params),
                               (StructureOnly(args.dim, args.layers,
                                              remat=args.remat),
                                {'backbone': params})))
  # One compilation per measured function is the target.
  result['compiles'] = sum(fn._cache_size() for fn, _ in functions.values())  # pylint: disable=protected-access
  result['process_compiles'] = args.counter.count
  bandwidth = memory_bandwidth()
  flops = matmul_flops_per_second()
  result['memory_bandwidth_bytes_per_second'] = bandwidth
  result['matmul_flops_per_second'] = flops
  # Roofline of the entity GNN forward: message passing is memory bound
  # (BYTES_PER_QED per query·edge·dim), the per-node linear layers are
  # compute bound (2·N·B·2D·D FLOPs per layer); the bound adds both.
  nodes = budget.nodes
  bound = (qed * BYTES_PER_QED / bandwidth +
           args.layers * 2 * nodes * batch * 2 * args.dim * args.dim / flops)
  result['roofline_fraction'] = {
      'fwd': bound / jax_side['entity_forward']['median_seconds'],
      'fwd_memory_only': jax_side['entity_forward']['qed_per_second'] *
                         BYTES_PER_QED / bandwidth,
      'propagate': jax_side['propagate']['qed_per_second'] * BYTES_PER_QED /
                   bandwidth}
  if not args.no_torch:
    result['torch'] = torch_side(args, graph, params, relation_states,
                                 train_batch, states)
    result['ratio'] = {
        'fwd': result['torch']['entity_forward']['median_seconds'] /
               jax_side['entity_forward']['median_seconds'],
        'train': result['torch']['entity_train_step']['median_seconds'] /
                 jax_side['entity_train_step']['median_seconds']}
  return result


def torch_side(args, graph, params, relation_states, batch, jax_states):
  """The PyTorch reference: checked against JAX, then timed."""
  import torch  # pylint: disable=g-import-not-at-top
  from benchmarks import torch_reference  # pylint: disable=g-import-not-at-top
  torch.manual_seed(0)
  model = torch_reference.EntityGNN(jax.device_get(params['entity_model']),
                                    jax.device_get(params['mlp']),
                                    args.layers)
  keep = np.asarray(batch.edge_weight)[:graph.num_edges] > 0
  edges = graph.edges[keep]
  edge_index = torch.from_numpy(np.stack([edges[:, 0], edges[:, 2]]))
  edge_type = torch.from_numpy(edges[:, 1])
  rel = torch.from_numpy(np.array(relation_states)).transpose(0, 1)
  rel = rel.contiguous()
  heads = torch.from_numpy(np.asarray(batch.queries.nodes).astype(np.int64))
  qrel = torch.from_numpy(np.asarray(batch.queries.relations).astype(
      np.int64))
  candidates = torch.from_numpy(np.asarray(batch.candidates).astype(np.int64))
  with torch.no_grad():
    h, _ = model.states(rel, heads, qrel, edge_index, edge_type,
                        graph.num_nodes)
  expected = np.swapaxes(np.asarray(jax_states), 0, 1)[:, :graph.num_nodes]
  error = float(np.max(np.abs(h.numpy() - expected)) /
                (np.max(np.abs(expected)) + 1e-12))
  if error > 1e-3:
    raise AssertionError(f'torch and JAX entity GNNs disagree ({error:.2e})')
  optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)

  def forward():
    with torch.no_grad():
      return model.states(rel, heads, qrel, edge_index, edge_type,
                          graph.num_nodes)

  def train_step():
    optimizer.zero_grad()
    h, query = model.states(rel, heads, qrel, edge_index, edge_type,
                            graph.num_nodes)
    loss = torch_reference.self_adversarial_bce(
        model.scores(h, query, candidates))
    loss.backward()
    optimizer.step()
    return loss

  out = {'max_relative_difference_to_jax': error,
         'threads': torch.get_num_threads()}
  for name, fn in (('entity_forward', forward),
                   ('entity_train_step', train_step)):
    for _ in range(args.warmup + 1):
      fn()
    out[name] = {'median_seconds': median_seconds(fn, args.repeats)}
  return out


def plot(path: str, results: list[dict]) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  labels = [f"{r['graph']}\nB={r['batch']}" for r in results]
  x = np.arange(len(results))
  for i, (name, key) in enumerate((('JAX fwd', 'entity_forward'),
                                   ('JAX train', 'entity_train_step'))):
    axes[0].bar(x + 0.2 * i, [r['jax'][key]['median_seconds'] for r in
                              results], 0.2, label=name)
  if all('torch' in r for r in results):
    for i, key in enumerate(('entity_forward', 'entity_train_step')):
      axes[0].bar(x + 0.4 + 0.2 * i, [r['torch'][key]['median_seconds']
                                      for r in results], 0.2,
                  label=f"torch {key.split('_')[1]}")
  axes[0].set_xticks(x + 0.3)
  axes[0].set_xticklabels(labels, fontsize=7)
  axes[0].set_ylabel('median seconds per step')
  axes[0].set_yscale('log')
  axes[0].legend(fontsize=7)
  axes[1].loglog([r['edges'] * r['batch'] for r in results],
                 [r['jax']['entity_forward']['median_seconds']
                  for r in results], 'o-')
  axes[1].set_xlabel('edges × batch')
  axes[1].set_ylabel('entity GNN forward (s)')
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def scaling_exponent(results: list[dict]) -> float | None:
  """Slope of log(time) on log(edges) at fixed batch size."""
  by_batch = {}
  for r in results:
    by_batch.setdefault(r['batch'], []).append(r)
  slopes = []
  for rows in by_batch.values():
    if len({r['edges'] for r in rows}) >= 2:
      slope, _ = np.polyfit(np.log([r['edges'] for r in rows]), np.log(
          [r['jax']['entity_forward']['median_seconds'] for r in rows]), 1)
      slopes.append(float(slope))
  return float(np.mean(slopes)) if slopes else None


def write_report(report: dict, path: str) -> None:
  """Prints a benchmark's report as JSON, and writes it to `path` if set."""
  text = json.dumps(report, indent=2, sort_keys=True)
  print(text)
  if path:
    with open(path, 'w') as f:
      f.write(text + '\n')


def add_graph_arguments(parser: argparse.ArgumentParser) -> None:
  """The graph and the batch of states a benchmark times (shared with
  layout.py so both measure the same default workload)."""
  parser.add_argument('--data-root', default='../shared/data')
  parser.add_argument('--graph', default='lp/MKG-W')
  parser.add_argument('--batch', type=int, default=16)
  parser.add_argument('--dim', type=int, default=64)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  add_graph_arguments(parser)
  parser.add_argument('--layers', type=int, default=6)
  parser.add_argument('--negatives', type=int, default=64)
  parser.add_argument('--feature-dim', type=int, default=128,
                      help='unified feature dims (config.features.k)')
  parser.add_argument('--ranking-queries', type=int, default=256,
                      help='test queries ranked by both models')
  parser.add_argument('--repeats', type=int, default=5)
  parser.add_argument('--warmup', type=int, default=1)
  parser.add_argument('--remat', action='store_true')
  parser.add_argument('--no-torch', action='store_true')
  parser.add_argument('--sweep-graphs', default='')
  parser.add_argument('--sweep-batches', default='')
  parser.add_argument('--json', default='')
  parser.add_argument('--plot', default='')
  args = parser.parse_args(argv)
  args.counter = CompileCounter()
  graphs = args.sweep_graphs.split(',') if args.sweep_graphs else [args.graph]
  batches = ([int(b) for b in args.sweep_batches.split(',')]
             if args.sweep_batches else [args.batch])
  results = [run(args, g, b) for g in graphs for b in batches]
  report = dict(results[0]) if len(results) == 1 else {'runs': results}
  if len(results) > 1:
    report['scaling_exponent'] = scaling_exponent(results)
    report['compiles'] = sum(r['compiles'] for r in results)
  write_report(report, args.json)
  if args.plot:
    plot(args.plot, results)
  return report


if __name__ == '__main__':
  main()
