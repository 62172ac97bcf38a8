"""Data parallelism with `jax.jit` over a `Mesh` (the design card's
"pmap-sharded" step: JAX keeps `pmap` in maintenance mode since 0.8).

Queries (and everything per query) are sharded along the mesh axis `data`;
the graph and the train state are replicated. The same code runs on one
device, on 8 fake CPU devices, and across processes: each process passes its
local slice of a batch (`device_batch`) and gets whole results back
(`gather`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = 'data'


def initialize_distributed(coordinator: str = '', num_processes: int = 0,
                           process_id: int = -1) -> None:
  """`jax.distributed.initialize` when asked, by flags or by environment.

  With no arguments, JAX discovers the cluster itself (Cloud TPU pods,
  SLURM); with an explicit coordinator, processes meet there (local runs).
  """
  kwargs = {}
  if coordinator:
    kwargs = dict(coordinator_address=coordinator,
                  num_processes=num_processes, process_id=process_id)
  if os.environ.get('JAX_PLATFORMS', '').startswith('cpu'):
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(**kwargs)
  logging.info('process %d of %d, %d local / %d global devices',
               jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())


def make_mesh() -> Mesh:
  """Every device of every process on the one axis `data`."""
  return jax.make_mesh((jax.device_count(),), (DATA_AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def sharded(mesh: Mesh) -> NamedSharding:
  """Leading axis split over `data`."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def process_slice(batch_size: int) -> slice:
  """This process's rows of a global batch (processes own equal slices)."""
  per_process = batch_size // jax.process_count()
  start = jax.process_index() * per_process
  return slice(start, start + per_process)


def global_batch(local: Any, mesh: Mesh, global_size: int) -> Any:
  """Process-local rows (leading axis) → global arrays sharded on `data`."""
  sharding = sharded(mesh)

  def assemble(x):
    x = np.asarray(x)
    shape = (global_size,) + x.shape[1:]
    return jax.make_array_from_process_local_data(sharding, x, shape)

  return jax.tree_util.tree_map(assemble, local)


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Host values (identical on every process) → replicated global arrays."""
  sharding = replicated(mesh)

  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_process_local_data(sharding, x, x.shape)

  return jax.tree_util.tree_map(put, tree)


def device_batch(batch: Any, mesh: Mesh, batch_size: int,
                 replicated_fields: tuple[str, ...] = ()) -> Any:
  """A host batch (a NamedTuple, identical on every process) → global
  arrays: this process's rows sharded on `data`, `replicated_fields`
  replicated whole."""
  rows = process_slice(batch_size)
  fields = {}
  for name, value in batch._asdict().items():
    if name in replicated_fields:
      fields[name] = replicate(value, mesh)
    else:
      local = jax.tree_util.tree_map(lambda x: np.asarray(x)[rows], value)
      fields[name] = global_batch(local, mesh, batch_size)
  return type(batch)(**fields)


def gather(x: Any) -> Any:
  """Sharded global arrays → the full host arrays on every process."""
  if jax.process_count() == 1:
    return jax.tree_util.tree_map(np.asarray, x)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return jax.tree_util.tree_map(
      np.asarray, multihost_utils.process_allgather(x, tiled=True))
