"""ULTRA's released PyTorch checkpoints → Flax params of `backbone.Ultra`.

Reads the `.pth` with the project's own safe reader (no torch, no arbitrary
unpickling) and maps every tensor by name, transposing linear weights. Any
missing, unexpected or mis-shaped tensor is a `DataError` naming it.
Converted params can be saved with Orbax (`checkpoint.save_params`) so later
runs need neither torch nor the `.pth`.
"""

from __future__ import annotations

import os

import numpy as np

from mtaimkg_jax.errors import DataError
from mtaimkg_jax.models.torch_checkpoint import load_state_dict


def _expected_shapes(num_layers: int, dim: int) -> dict[str, tuple[int, ...]]:
  shapes: dict[str, tuple[int, ...]] = {}
  for model in ('relation_model', 'entity_model'):
    for i in range(num_layers):
      prefix = f'{model}.layers.{i}'
      shapes[f'{prefix}.linear.weight'] = (dim, 2 * dim)
      shapes[f'{prefix}.linear.bias'] = (dim,)
      shapes[f'{prefix}.layer_norm.weight'] = (dim,)
      shapes[f'{prefix}.layer_norm.bias'] = (dim,)
      if model == 'relation_model':
        shapes[f'{prefix}.relation.weight'] = (4, dim)
      else:
        for j in (0, 2):
          shapes[f'{prefix}.relation_projection.{j}.weight'] = (dim, dim)
          shapes[f'{prefix}.relation_projection.{j}.bias'] = (dim,)
  shapes['entity_model.mlp.0.weight'] = (2 * dim, 2 * dim)
  shapes['entity_model.mlp.0.bias'] = (2 * dim,)
  shapes['entity_model.mlp.2.weight'] = (1, 2 * dim)
  shapes['entity_model.mlp.2.bias'] = (1,)
  return shapes


def ultra_params(state: dict[str, np.ndarray], source: str | os.PathLike,
                 num_layers: int = 6, dim: int = 64) -> dict:
  """Maps an ULTRA state dict to the `params` of `backbone.Ultra`."""
  expected = _expected_shapes(num_layers, dim)
  missing = sorted(set(expected) - set(state))
  unexpected = sorted(set(state) - set(expected))
  if missing:
    raise DataError(source, f'missing tensor(s) for a {num_layers}-layer, '
                    f'{dim}-dim ULTRA: {missing[:8]}')
  if unexpected:
    raise DataError(source, f'unexpected tensor(s) for a {num_layers}-layer, '
                    f'{dim}-dim ULTRA: {unexpected[:8]}')
  for name, shape in expected.items():
    if tuple(state[name].shape) != shape:
      raise DataError(source, f'tensor {name} has shape '
                      f'{tuple(state[name].shape)}, expected {shape}')
    if not np.all(np.isfinite(state[name])):
      raise DataError(source, f'tensor {name} has non-finite values')

  def dense(prefix: str) -> dict:
    return {'kernel': np.asarray(state[f'{prefix}.weight'], np.float32).T,
            'bias': np.asarray(state[f'{prefix}.bias'], np.float32)}

  def conv(prefix: str) -> dict:
    return {'linear': dense(f'{prefix}.linear'),
            'layer_norm': {
                'scale': np.asarray(state[f'{prefix}.layer_norm.weight'],
                                    np.float32),
                'bias': np.asarray(state[f'{prefix}.layer_norm.bias'],
                                   np.float32)}}

  relation_model, entity_model = {}, {}
  for i in range(num_layers):
    rel = f'relation_model.layers.{i}'
    ent = f'entity_model.layers.{i}'
    relation_model[f'layer_{i}'] = conv(rel)
    relation_model[f'relation_{i}'] = {
        'embedding': np.asarray(state[f'{rel}.relation.weight'], np.float32)}
    entity_model[f'layer_{i}'] = conv(ent)
    entity_model[f'relation_projection_{i}'] = {
        'dense_0': dense(f'{ent}.relation_projection.0'),
        'dense_1': dense(f'{ent}.relation_projection.2')}
  return {'relation_model': relation_model, 'entity_model': entity_model,
          'mlp': {'dense_0': dense('entity_model.mlp.0'),
                  'dense_1': dense('entity_model.mlp.2')}}


def load_ultra(path: str | os.PathLike, num_layers: int = 6,
               dim: int = 64) -> dict:
  """`ultra_*.pth` → `backbone.Ultra` params (numpy leaves)."""
  return ultra_params(load_state_dict(path, key='model'), path, num_layers,
                      dim)


def main(argv: list[str]) -> None:
  """`python -m mtaimkg_jax.models.ultra_import ultra_3g.pth out_dir`:
  converts once; `config.model.init_checkpoint=out_dir` then needs no .pth."""
  if len(argv) != 3:
    raise SystemExit(f'usage: {argv[0]} <ultra.pth> <orbax output dir>')
  from mtaimkg_jax import checkpoint  # pylint: disable=g-import-not-at-top
  checkpoint.save_params(argv[2], load_ultra(argv[1]))
  print(f'wrote {argv[2]}')


if __name__ == '__main__':
  import sys  # pylint: disable=g-import-not-at-top
  main(sys.argv)
