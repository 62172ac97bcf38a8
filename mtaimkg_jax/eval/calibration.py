"""The scale of the learned terms of EA/EL logits, chosen on held-out
queries.

MtaIMKG's logit is a routed sum of named terms (models/terms.py):
`structure` (the backbone's score) and, per modality m, a query term `<m>`
(the cosine of the query's and the candidate's features) and a prototype
term `<m>_relation` (the cosine of the candidate's features and the query
relation's answer prototype). For EA and EL the names prior is the sum of
the query terms, whose weights start at `model.names_prior` (times
`terms.NAMES_PRIOR_MODALITIES`); the learned terms are the others, the
structure and prototype terms. They are trained against a few dozen
negatives but ranked among ~10⁴ candidates, where at full scale they can
move the ranking more than they inform it. `prior + s × learned` with `s`
in [0, 1] chosen on queries held out of training (`ea.valid_fraction` of
the seed pairs, `el.valid_fraction` of the training mentions) keeps what
they know and bounds what they cost; the test split never chooses
anything.

The ranking evaluator keeps each split's score matrix and its names prior
(key 'prior'; both read from the model's output), so one ranking pass per
split serves every scale.
"""

from __future__ import annotations

import logging

import ml_collections
import numpy as np

from mtaimkg_jax import records
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.data.tasks import KINDS
from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.eval import matching

# Candidate scales of the learned terms (1 = the trained model).
SCALES = tuple(round(0.1 * i, 1) for i in range(11))
# results.json key suffix of the ranks at the chosen scale.
CALIBRATED = ':calibrated'


def calibrates(config: ml_collections.ConfigDict, graph: QueryGraph) -> bool:
  """Whether `graph`'s test ranking also gets a calibrated learned scale
  (the kinds whose logits have a names prior); a graph without enough
  held-out queries to choose it is a `ConfigError`."""
  kind = KINDS[graph.task]
  if not (config.eval.calibrate_learned_scale and kind.names_prior):
    return False
  if 'valid' not in graph.queries:
    raise ConfigError('eval.calibrate_learned_scale', f'{graph.key} has no '
                      f'held-out queries; set {graph.task}.valid_fraction > 0')
  held_out = len(graph.queries['valid'])
  if held_out < config.eval.calibration_min_queries:
    raise ConfigError(
        'eval.calibration_min_queries', f'{graph.key} holds out {held_out} '
        f'queries, fewer than {config.eval.calibration_min_queries}: raise '
        f'{graph.task}.valid_fraction (or, knowingly, this minimum)')
  return True


def parts(ranked: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """(prior, learned terms) of a ranked split's kept 'scores' and 'prior'
  [R, C], both -inf where a node may not compete."""
  scores, prior = ranked['scores'], ranked['prior']
  allowed = np.isfinite(scores)
  learned = np.where(allowed, scores - np.where(allowed, prior, 0), -np.inf)
  return prior, learned.astype(np.float32)


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
  return 1.0 / matching.matrix_ranks(scaled(prior, learned, scale),
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


def choose(config: ml_collections.ConfigDict, key: str,
           held_out: dict[str, np.ndarray]) -> dict:
  """The scale chosen on a dataset's ranked held-out split, with what chose
  it (the calibration.json entry of dataset `key`)."""
  prior, learned = parts(held_out)
  columns, ties = held_out['columns'], config.eval.ties
  scale, mrr = choose_scale(prior, learned, columns, ties)
  gain, error = gain_over_full_scale(prior, learned, columns, scale, ties)
  logging.info('%s: learned-term scale %.1f, held-out MRR %+.4f ± %.4f over '
               'scale 1 (%s)', key, scale, gain, error,
               ', '.join(f'{s:g}: {m:.4f}' for s, m in mrr.items()))
  return {'learned_scale': scale, 'valid_pairs': len(held_out['ranks']),
          'valid_mrr': {f'{s:g}': m for s, m in mrr.items()},
          'valid_gain_over_full_scale': {'mrr': gain,
                                         'standard_error': error}}


def calibrated_ranks(config: ml_collections.ConfigDict, graph: QueryGraph,
                     ranked: dict[str, np.ndarray],
                     scale: float) -> dict[str, np.ndarray]:
  """{results key: ranks} of a ranked split at the learned-term `scale`
  (and after one-to-one matching, where the kind matches)."""
  scores = scaled(*parts(ranked), scale)
  key = graph.key + CALIBRATED
  out = {key: matching.matrix_ranks(scores, ranked['columns'],
                                    config.eval.ties)}
  if matching.matches(config, KINDS[graph.task]):
    out[key + records.ONE_TO_ONE] = matching.matched_ranks(
        config, scores, ranked['columns'])
  return out
