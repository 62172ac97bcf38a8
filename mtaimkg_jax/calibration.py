"""The scale of the learned terms of EA/EL logits, chosen on held-out
queries.

MtaIMKG's EA and EL logits are a cosine prior (Σ over modalities of a
learned gate × the cosine of the unified features) plus learned terms (the
MoE head and the gated structure score). The learned terms are trained
against a few dozen negatives but ranked among ~10⁴ candidates, where at
full scale they can move the ranking more than they inform it.
`prior + s × learned` with `s` in [0, 1] chosen on queries held out of
training (`ea.valid_fraction` of the seed pairs, `el.valid_fraction` of the
training mentions) keeps what they know and bounds what they cost; the
test split never chooses anything.

Scores are split offline, from a saved score matrix: the prior is
recomputed from the graph's features and the checkpoint's gates, so one
ranking pass per split serves every scale.
"""

from __future__ import annotations

from typing import Any

import chex
import numpy as np

from mtaimkg_jax import evaluation
from mtaimkg_jax.data.graph import TASK_IDS, QueryGraph

# Candidate scales of the learned terms (1 = the trained model).
SCALES = tuple(round(0.1 * i, 1) for i in range(11))
# results.json key suffix of the ranks at the chosen scale.
CALIBRATED = ':calibrated'


def unit_rows(x: np.ndarray) -> np.ndarray:
  """Rows scaled to unit L2 norm (zero rows stay zero)."""
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def cosine_prior(graph: QueryGraph, modalities: tuple[str, ...],
                 gates: np.ndarray, nodes: np.ndarray,
                 candidates: np.ndarray) -> np.ndarray:
  """[Q, C] Σ_m gates[m] · cosine of the unified features of `nodes` and
  `candidates` (absent rows and modalities give 0), as MtaIMKG adds it."""
  chex.assert_shape(gates, (len(modalities),))
  total = np.zeros((len(nodes), len(candidates)), np.float32)
  for modality, gate in zip(modalities, gates):
    feature = graph.features.get(modality)
    if feature is None or gate == 0:
      continue
    unit = unit_rows(np.where(feature.present[:, None], feature.values, 0))
    total += gate * (unit[nodes] @ unit[candidates].T)
  return total


def split_scores(scores: np.ndarray, prior: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
  """A saved [R, C] score matrix (-inf where a node may not compete) →
  (prior, learned terms), both -inf where the scores are."""
  chex.assert_equal_shape([scores, prior])
  allowed = np.isfinite(scores)
  prior = np.where(allowed, prior, -np.inf).astype(np.float32)
  learned = np.where(allowed, scores - np.where(allowed, prior, 0), -np.inf)
  return prior, learned.astype(np.float32)


def score_parts(graph: QueryGraph, modalities: tuple[str, ...], params: Any,
                split: str, scores: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
  """(prior, learned terms) of `split`'s saved score matrix over
  `graph.candidates`, the prior with the gates of MtaIMKG `params`."""
  gates = np.asarray(params['cosine_gate'])[TASK_IDS[graph.task]]
  return split_scores(scores, cosine_prior(
      graph, modalities, gates, graph.queries[split].nodes,
      np.flatnonzero(graph.candidates)))


def scaled(prior: np.ndarray, learned: np.ndarray,
           scale: float) -> np.ndarray:
  """`prior + scale × learned`, -inf kept (0 × -inf would be NaN)."""
  allowed = np.isfinite(prior)
  return np.where(allowed, prior + scale * np.where(allowed, learned, 0),
                  -np.inf).astype(np.float32)


def reciprocal_ranks(prior: np.ndarray, learned: np.ndarray,
                     columns: np.ndarray, scale: float,
                     ties: str = 'realistic') -> np.ndarray:
  """Per-answer 1 / rank of `prior + scale × learned` (their mean: MRR)."""
  return 1.0 / evaluation.matrix_ranks(scaled(prior, learned, scale),
                                       columns, ties).astype(np.float64)


def choose_scale(prior: np.ndarray, learned: np.ndarray, columns: np.ndarray,
                 ties: str = 'realistic', scales: tuple[float, ...] = SCALES
                 ) -> tuple[float, dict[float, float]]:
  """The scale whose plain ranking of the held-out pairs has the best MRR
  (the smaller scale on a tie), and the MRR of every scale."""
  mrr = {s: float(reciprocal_ranks(prior, learned, columns, s, ties).mean())
         for s in scales}
  best = max(scales, key=lambda s: (mrr[s], -s))
  return best, mrr


def gain_over_full_scale(prior: np.ndarray, learned: np.ndarray,
                         columns: np.ndarray, scale: float,
                         ties: str = 'realistic') -> tuple[float, float]:
  """(MRR at `scale` − MRR at 1, its standard error) over the same queries:
  the paired per-answer differences of reciprocal ranks, so a user can see
  whether the chosen scale beats the trained model by more than noise."""
  difference = (reciprocal_ranks(prior, learned, columns, scale, ties) -
                reciprocal_ranks(prior, learned, columns, 1.0, ties))
  error = (difference.std(ddof=1) / np.sqrt(difference.size)
           if difference.size > 1 else float('nan'))
  return float(difference.mean()), float(error)
