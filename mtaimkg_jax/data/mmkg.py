"""Host-side containers: one multimodal knowledge graph and its task examples.

An `MMKG` holds vocabularies, triples per split, per-entity text and names,
and per-modality feature matrices with presence masks. Task containers
(`LPTask`, `EATask`, `ELTask`) say what to ask of one or two MMKGs; the
graph builder (`graph.py`) turns each into the one query form of the design.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from mtaimkg_jax.errors import DataError


@dataclasses.dataclass(frozen=True)
class Features:
  """One modality's features: `values [N, d]` and `present [N]` (bool)."""
  values: np.ndarray
  present: np.ndarray

  def __post_init__(self):
    if self.values.ndim != 2:
      raise ValueError(f'feature values must be [N, d], got {self.values.shape}')
    if self.present.shape != (self.values.shape[0],):
      raise ValueError(f'presence mask {self.present.shape} does not match '
                       f'values {self.values.shape}')

  @property
  def dim(self) -> int:
    return self.values.shape[1]

  def take(self, index: np.ndarray) -> 'Features':
    return Features(self.values[index], self.present[index])

  @staticmethod
  def concat(parts: Sequence['Features']) -> 'Features':
    dims = {p.dim for p in parts}
    if len(dims) != 1:
      raise ValueError(f'cannot stack features of dims {sorted(dims)}')
    return Features(np.concatenate([p.values for p in parts]),
                    np.concatenate([p.present for p in parts]))

  @staticmethod
  def absent(count: int, dim: int) -> 'Features':
    return Features(np.zeros((count, dim), np.float32),
                    np.zeros((count,), bool))


class Vocab:
  """An ordered, duplicate-free list of tokens with a reverse index."""

  def __init__(self, tokens: Sequence[str]):
    self.tokens = list(tokens)
    self._index = {t: i for i, t in enumerate(self.tokens)}
    if len(self._index) != len(self.tokens):
      i, token = next((i, t) for i, t in enumerate(self.tokens)
                      if self._index[t] != i)
      raise ValueError(f'vocabulary has duplicate tokens: {token[:200]!r} at '
                       f'{i} and {self._index[token]}')

  def __len__(self) -> int:
    return len(self.tokens)

  def __contains__(self, token: str) -> bool:
    return token in self._index

  def __getitem__(self, token: str) -> int:
    return self._index[token]

  def get(self, token: str, default: int | None = None) -> int | None:
    return self._index.get(token, default)

  @classmethod
  def build(cls, streams: Sequence[Sequence[str]]) -> 'Vocab':
    """Tokens in order of first appearance across `streams`."""
    seen: dict[str, None] = {}
    for stream in streams:
      for token in stream:
        seen.setdefault(token, None)
    return cls(list(seen))


@dataclasses.dataclass
class MMKG:
  """One multimodal knowledge graph.

  `triples[split]` is int64 `[n, 3]` of (head, relation, tail) ids.
  `texts[i]` is the text the text encoder reads for entity i ('' when none);
  `names[i]` is a short readable name for output. `features` maps a modality
  name to its `Features`; a modality may be absent altogether.
  """
  name: str
  entities: Vocab
  relations: Vocab
  triples: dict[str, np.ndarray]
  names: list[str]
  texts: list[str]
  features: dict[str, Features] = dataclasses.field(default_factory=dict)
  relation_names: list[str] | None = None
  # {optional file: (entities or relations it gave a value, how many it
  # could)}: what each text, name or image file covers (hygiene.py).
  coverage: dict[str, tuple[int, int]] = dataclasses.field(
      default_factory=dict)

  def __post_init__(self):
    n = len(self.entities)
    if len(self.names) != n or len(self.texts) != n:
      raise ValueError(f'{self.name}: names/texts must have one entry per '
                       f'entity ({n})')
    for split, t in self.triples.items():
      if t.ndim != 2 or t.shape[1] != 3:
        raise ValueError(f'{self.name}: triples[{split}] must be [n, 3]')
      if t.size and (t[:, [0, 2]].max() >= n or t[:, 1].max() >= len(
          self.relations) or t.min() < 0):
        raise ValueError(f'{self.name}: triples[{split}] has ids out of range')
    for modality, f in self.features.items():
      if f.values.shape[0] != n:
        raise ValueError(f'{self.name}: {modality} features have '
                         f'{f.values.shape[0]} rows for {n} entities')

  @property
  def num_entities(self) -> int:
    return len(self.entities)

  @property
  def num_relations(self) -> int:
    return len(self.relations)

  def all_triples(self, splits: Sequence[str] | None = None) -> np.ndarray:
    splits = list(self.triples) if splits is None else splits
    parts = [self.triples[s] for s in splits]
    return np.concatenate(parts) if parts else np.zeros((0, 3), np.int64)

  def with_features(self, modality: str, features: Features) -> 'MMKG':
    return dataclasses.replace(self, features={**self.features,
                                               modality: features})


def encode_triples(path: str, triples: Sequence[tuple[str, str, str]],
                   entities: Vocab, relations: Vocab,
                   line_numbers: Sequence[int] | None = None) -> np.ndarray:
  """String triples → int64 [n, 3]; unknown tokens raise `DataError`."""
  out = np.empty((len(triples), 3), np.int64)
  for i, (h, r, t) in enumerate(triples):
    line = line_numbers[i] if line_numbers is not None else None
    for column, (token, vocab, what) in enumerate(
        ((h, entities, 'entity'), (r, relations, 'relation'),
         (t, entities, 'entity'))):
      ident = vocab.get(token)
      if ident is None:
        raise DataError(path, f'unknown {what} {token!r}', line)
      out[i, column] = ident
  return out


@dataclasses.dataclass
class LPTask:
  """Link prediction on `kg`: fact graph = `fact_splits`, queries both ways.

  `filter_splits` lists the splits whose triples count as known true facts
  in filtered ranking.
  """
  key: str
  kg: MMKG
  fact_splits: tuple[str, ...] = ('train',)
  train_split: str | None = 'train'
  eval_splits: Mapping[str, tuple[str, ...]] = dataclasses.field(
      default_factory=lambda: {'valid': ('valid',), 'test': ('test',)})
  filter_splits: tuple[str, ...] = ('train', 'valid', 'test')


@dataclasses.dataclass
class EATask:
  """Entity alignment between `kg1` and `kg2`.

  `pairs` is int64 [n, 2] of (kg1 id, kg2 id). The seeded split puts
  `train_pairs` into the graph as `same_as` edges; `test_pairs` are queries
  and never edges.
  """
  key: str
  kg1: MMKG
  kg2: MMKG
  train_pairs: np.ndarray
  test_pairs: np.ndarray
  valid_pairs: np.ndarray = dataclasses.field(
      default_factory=lambda: np.zeros((0, 2), np.int64))
  candidates: str = 'test'  # 'test': kg2 entities of the test pairs; 'all'
  # Pairs the source listed more than once, dropped before the split.
  source_duplicates: int = 0


@dataclasses.dataclass
class Mentions:
  """Mentions of one split: their text (the mention with its sentence),
  their surface form (the mention alone; empty: the whole text), their
  own features, their answers."""
  texts: list[str]
  answers: np.ndarray  # int64 [M] KB entity ids
  features: dict[str, Features] = dataclasses.field(default_factory=dict)
  surfaces: list[str] = dataclasses.field(default_factory=list)

  def surface_forms(self) -> list[str]:
    return list(self.surfaces) if self.surfaces else list(self.texts)

  def __len__(self) -> int:
    return len(self.texts)

  def take(self, rows: np.ndarray) -> Mentions:
    """The mentions at `rows`, in that order."""
    return Mentions(texts=[self.texts[i] for i in rows],
                    answers=self.answers[rows],
                    features={m: f.take(rows)
                              for m, f in self.features.items()},
                    surfaces=[self.surfaces[i] for i in rows]
                    if self.surfaces else [])


@dataclasses.dataclass
class ELTask:
  """Entity linking of `mentions[split]` to the entities of `kb`.

  `candidates` marks the KB entities a mention may link to (the attribute
  value nodes parsed from the KB text are graph nodes but not candidates).
  """
  key: str
  kb: MMKG
  mentions: dict[str, Mentions]
  candidates: np.ndarray  # bool [kb.num_entities]


Task = LPTask | EATask | ELTask


def split_pairs(pairs: np.ndarray, train_ratio: float, seed: int,
                valid_ratio: float = 0.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Seeded split of alignment pairs into (train, valid, test)."""
  if not 0.0 < train_ratio < 1.0:
    raise ValueError(f'train_ratio must be in (0, 1), got {train_ratio}')
  order = np.random.default_rng(seed).permutation(len(pairs))
  n_train = int(round(train_ratio * len(pairs)))
  n_valid = int(round(valid_ratio * len(pairs)))
  train = pairs[np.sort(order[:n_train])]
  valid = pairs[np.sort(order[n_train:n_train + n_valid])]
  test = pairs[np.sort(order[n_train + n_valid:])]
  return train, valid, test


def hold_out(rows: np.ndarray, fraction: float,
             seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Seeded split of `rows` into (kept, held out), order kept: `fraction`
  of them held out (seed pairs or mentions kept out of training to
  validate on)."""
  if not 0.0 <= fraction < 1.0:
    raise ValueError(f'fraction must be in [0, 1), got {fraction}')
  order = np.random.default_rng([seed, 1]).permutation(len(rows))
  n_out = int(round(fraction * len(rows)))
  return rows[np.sort(order[n_out:])], rows[np.sort(order[:n_out])]
