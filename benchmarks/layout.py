r"""Node-major `[N, B, D]` vs query-major `[B, N, D]` states for one
message-passing step (gather neighbours, multiply, scatter-add), plain XLA
vs the project's fused chunked core, on a real graph.

  python benchmarks/layout.py --data-root ../shared/data --graph lp/MKG-W \
      --batch 16 --dim 64
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

if __name__ == '__main__':
  from mtaimkg_jax import runtime  # pylint: disable=g-import-not-at-top
  runtime.reexec_with_huge_page_malloc(sys.argv)

from mtaimkg_jax.data import datasets  # pylint: disable=g-import-not-at-top
from mtaimkg_jax.data.featurize import featurize  # pylint: disable=g-import-not-at-top
from mtaimkg_jax.data.graph import build_lp  # pylint: disable=g-import-not-at-top
from mtaimkg_jax.models.backbone import propagate  # pylint: disable=g-import-not-at-top
import throughput  # pylint: disable=g-import-not-at-top,wrong-import-order


def compiled_median_seconds(fn, args, repeats=5) -> float:
  """Median time of `fn(*args)` after one compiling call."""
  return throughput.timed(fn, args, repeats, warmup=0)['median_seconds']


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  throughput.add_graph_arguments(parser)
  args = parser.parse_args(argv)
  graph = featurize(build_lp(datasets.load_lp_task(args.data_root, args.graph)), 8)
  receivers, types, senders = (graph.edges[:, i].astype(np.int32)
                               for i in range(3))
  n, b, d = graph.num_nodes, args.batch, args.dim
  rng = np.random.default_rng(0)
  node_major = jnp.asarray(rng.normal(size=(n, b, d)), jnp.float32)
  query_major = jnp.swapaxes(node_major, 0, 1)
  relations = jnp.asarray(rng.normal(size=(graph.num_relations, b, d)),
                          jnp.float32)
  weight = jnp.ones((graph.num_edges,), jnp.float32)

  @jax.jit
  def plain_node_major(h, rel):
    messages = h[senders] * rel[types]
    return jax.ops.segment_sum(messages, receivers, n, indices_are_sorted=True)

  @jax.jit
  def plain_query_major(h, rel):
    messages = h[:, senders] * jnp.swapaxes(rel, 0, 1)[:, types]
    return jnp.zeros_like(h).at[:, receivers].add(messages)

  @jax.jit
  def fused_node_major(h, rel):
    return propagate(h, rel, types, senders, receivers, weight)

  report = {'graph': args.graph, 'edges': graph.num_edges, 'batch': b,
            'dim': d, 'seconds': {
                fn.__name__: compiled_median_seconds(fn, (states, relations))
                for fn, states in ((plain_node_major, node_major),
                                   (plain_query_major, query_major),
                                   (fused_node_major, node_major))}}
  print(json.dumps(report, indent=2))
  return report


if __name__ == '__main__':
  main()
