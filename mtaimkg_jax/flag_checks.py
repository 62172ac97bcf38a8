"""What the command line's flags must mean, checked before any work:
kept apart from main.py, which defines the flags, so that code and tests
that define flags of their own can call it."""

from __future__ import annotations

from typing import Iterable

import ml_collections

from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.experiment import resolve_init

# The flags only --mode=predict reads.
PREDICT_FLAGS = ('query', 'queries', 'task', 'top_k')


def check_flags(mode: str, given: Iterable[str],
                config: ml_collections.ConfigDict) -> None:
  """Raises `ConfigError` naming a flag that would mean nothing: a predict
  flag (`given` on the command line) in another mode, --query together with
  --queries, or in train mode a config.init_workdir holding no checkpoint
  (training would start from scratch instead)."""
  given = set(given)
  if mode != 'predict':
    ignored = [f'--{name}' for name in PREDICT_FLAGS if name in given]
    if ignored:
      raise ConfigError(ignored[0][2:], f'{", ".join(ignored)}: read by '
                        f'--mode=predict only, not --mode={mode}')
  elif {'query', 'queries'} <= given:
    raise ConfigError('queries', 'give --query or --queries, not both')
  if mode == 'train' and config.init_workdir:
    # Raises when it holds no checkpoint to start from.
    resolve_init(config, None, given, training=True)
