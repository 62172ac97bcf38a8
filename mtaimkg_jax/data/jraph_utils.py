"""The only door to jraph: building, padding and padding masks.

jraph is archived; its `jax.tree_map`-era helpers break on current JAX. This
module pins down the handful of helpers the project uses, on numpy inputs
(host side) or jnp inputs (device side), and is tested on its own
(in `tests/test_padding.py`). Nothing else imports jraph.
"""

from __future__ import annotations

import jraph
import numpy as np

GraphsTuple = jraph.GraphsTuple


def graph(senders: np.ndarray, receivers: np.ndarray, num_nodes: int,
          nodes=None, edges=None) -> GraphsTuple:
  """A single host-side graph."""
  return GraphsTuple(
      nodes=nodes, edges=edges,
      senders=np.asarray(senders, np.int32),
      receivers=np.asarray(receivers, np.int32),
      n_node=np.asarray([num_nodes], np.int32),
      n_edge=np.asarray([len(senders)], np.int32), globals=None)


def pad(graph_: GraphsTuple, num_nodes: int, num_edges: int) -> GraphsTuple:
  """Pads a host-side graph to exactly `num_nodes` / `num_edges`.

  jraph adds one padding graph that owns the extra nodes and edges; padding
  edges connect the first padding node to itself, so their messages never
  reach a real node.
  """
  real_nodes = int(np.sum(graph_.n_node))
  real_edges = int(np.sum(graph_.n_edge))
  if num_nodes <= real_nodes or num_edges < real_edges:
    raise ValueError(f'budget ({num_nodes} nodes, {num_edges} edges) too '
                     f'small for {real_nodes} nodes (+1 padding) and '
                     f'{real_edges} edges')
  padded = jraph.pad_with_graphs(graph_, num_nodes, num_edges,
                                 n_graph=len(graph_.n_node) + 1)
  return padded._replace(
      senders=np.asarray(padded.senders, np.int32),
      receivers=np.asarray(padded.receivers, np.int32),
      n_node=np.asarray(padded.n_node, np.int32),
      n_edge=np.asarray(padded.n_edge, np.int32))


def node_mask(graph_: GraphsTuple) -> np.ndarray:
  """True for real nodes of a graph padded by `pad` (host side)."""
  return np.asarray(jraph.get_node_padding_mask(graph_))


def edge_mask(graph_: GraphsTuple) -> np.ndarray:
  """True for real edges of a graph padded by `pad` (host side)."""
  return np.asarray(jraph.get_edge_padding_mask(graph_))
