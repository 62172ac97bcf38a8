"""Evaluation loop: query batches → ranks → metrics, for any scorer.

A scorer maps an `EvalBatch` to int ranks [B] (the model does this inside
one jitted step; host-side baselines go through `host_scorer`). Padding
queries are dropped here, so every real query counts exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Callable

import jax
import numpy as np

from mtaimkg_jax import metrics
from mtaimkg_jax.data.batches import EvalBatch, eval_batches
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.data.padding import Budget, GraphArrays

RankFn = Callable[[EvalBatch], np.ndarray]

_ranks = jax.jit(metrics.filtered_ranks, static_argnames='ties')


def host_scorer(score: Callable[[EvalBatch], np.ndarray],
                arrays: GraphArrays, ties: str = 'realistic') -> RankFn:
  """Wraps a host-side score function [B, N_pad] into a rank function."""
  candidates = np.asarray(arrays.entity.nodes['candidate'] &
                          arrays.entity.nodes['real'])

  def rank(batch: EvalBatch) -> np.ndarray:
    return np.asarray(_ranks(score(batch), batch.queries.answers,
                             batch.exclude, candidates, ties=ties))

  return rank


class Progress:
  """Logs how far ranking a split has come, at most every `every` seconds,
  and the total time at the end (a full test set can take an hour)."""

  def __init__(self, graph: QueryGraph, split: str, every: float = 60.0):
    self.name = f'{graph.key}/{split}'
    self.total = len(graph.queries[split])
    self.every = every
    self.done = 0
    self.started = self.last = time.time()

  def update(self, queries: int) -> None:
    self.done += queries
    now = time.time()
    if now - self.last >= self.every and self.done < self.total:
      self.last = now
      rate = self.done / (now - self.started)
      logging.info('%s: %d/%d queries ranked (%.1f/s, ETA %.1f min)',
                   self.name, self.done, self.total, rate,
                   (self.total - self.done) / rate / 60)

  def finish(self) -> None:
    logging.info('%s: %d queries ranked in %.1fs', self.name, self.done,
                 time.time() - self.started)


def evaluate_split(graph: QueryGraph, split: str, budget: Budget,
                   batch_size: int, rank: RankFn,
                   shard: tuple[int, int] = (0, 1)) -> np.ndarray:
  """Ranks of all of this process's queries of `split`, in query order."""
  out = []
  progress = Progress(graph, split)
  for batch in eval_batches(graph, split, batch_size, budget, shard):
    out.append(np.asarray(rank(batch))[batch.queries.valid])
    progress.update(len(out[-1]))
  progress.finish()
  return np.concatenate(out) if out else np.zeros((0,), np.int32)


def write_results(path: str, results: dict[str, dict[str, float]]) -> None:
  """Writes `results.json` atomically, keys sorted."""
  os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    json.dump(results, f, indent=2, sort_keys=True)
    f.write('\n')
  os.replace(tmp, path)
