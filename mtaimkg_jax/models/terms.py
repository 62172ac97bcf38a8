"""The logit's terms, by name: one home for their order.

The logit of candidate c for query q is `Σ_k w_k(q) s_k(q, c)` over the
terms of a model with modalities `m_1..m_M`:
- `structure`: the backbone's score;
- `<m>` (query terms): the cosine of q's and c's features of modality m;
- `<m>_relation` (prototype terms): the cosine of c's features and the
  query relation's answer prototype.
The query terms are the **names prior** of the tasks whose query names
its answer (EA, EL): their weights start at `names_prior` times
`NAMES_PRIOR_MODALITIES[m]`; calibration scales the other, learned terms
against them. Routing init, ablation, centring, calibration and the
routing report all read the order from `Terms`.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import jax.numpy as jnp
import numpy as np

STRUCTURE = 'structure'
_PROTOTYPE = '_relation'
# How much of `names_prior` each modality's query term starts at for the
# tasks whose query names its answer: the names, the neighbours' names,
# the name trigrams, the seed pairs among the neighbours and the names in
# their own language (0.2, 0.3 and 2.0: the weights `benchmarks/probes.py
# surface-ngrams`, `anchors` and `original-names` chose on training
# queries; for `native`, DBP15K zh_en's seed pairs rank alike from 2.0 to
# 4.0, and the smallest is kept).
NAMES_PRIOR_MODALITIES = {'text': 1.0, 'neighbours': 1.0, 'surface': 0.2,
                          'anchors': 0.3, 'native': 2.0}


@dataclasses.dataclass(frozen=True)
class Terms:
  """The terms of a model reading `modalities`, in routing order."""
  modalities: tuple[str, ...]

  @property
  def names(self) -> tuple[str, ...]:
    return ((STRUCTURE,) + tuple(self.modalities) +
            tuple(prototype(m) for m in self.modalities))

  def __len__(self) -> int:
    return 1 + 2 * len(self.modalities)

  def index(self, name: str) -> int:
    return self.names.index(name)

  @property
  def query_names(self) -> tuple[str, ...]:
    return tuple(self.modalities)

  @property
  def prototype_names(self) -> tuple[str, ...]:
    return tuple(prototype(m) for m in self.modalities)

  def stack(self, structure, query: Mapping[str, object],
            prototypes: Mapping[str, object], axis: int = -1):
    """The terms' arrays stacked along `axis` in routing order."""
    return jnp.stack([structure] + [query[m] for m in self.modalities] +
                     [prototypes[m] for m in self.modalities], axis=axis)

  def kept(self, modalities: Sequence[str]) -> np.ndarray:
    """bool [K]: structure, and the terms of `modalities`."""
    return np.asarray([True] + [m in modalities for m in self.modalities] * 2)

  def initial_weights(self, num_tasks: int, names_prior_tasks: Sequence[int],
                      names_prior: float) -> np.ndarray:
    """[num_tasks, K] the routing base at initialisation: structure 1,
    the names prior on the query terms of `names_prior_tasks`, 0 else."""
    base = np.zeros((num_tasks, len(self)), np.float32)
    base[:, 0] = 1.0
    for task in names_prior_tasks:
      for modality in self.modalities:
        base[task, self.index(modality)] = (
            names_prior * NAMES_PRIOR_MODALITIES.get(modality, 0.0))
    return base

  def names_prior(self, terms: Mapping[str, object]):
    """The sum of a logit's query terms (the names prior EA and EL start
    from), or None for a model without modalities."""
    present = [terms[m] for m in self.modalities if m in terms]
    return sum(present) if present else None


def prototype(modality: str) -> str:
  return modality + _PROTOTYPE


def names_prior(terms: Mapping[str, object]):
  """`Terms.names_prior` of a logit's terms read by name (the query terms
  are those neither structure nor a prototype term)."""
  modalities = tuple(name for name in terms
                     if name != STRUCTURE and not name.endswith(_PROTOTYPE))
  return Terms(modalities).names_prior(terms)
