"""The featurize stage: built graphs → unified features, one new node alike."""

import numpy as np
import pytest

from mtaimkg_jax.data import featurize as featurize_lib
from mtaimkg_jax.data.features import HashingEncoder
from mtaimkg_jax.data.graph import build_ea, build_el
from mtaimkg_jax.data.mmkg import (EATask, ELTask, Features, MMKG, Mentions,
                                   Vocab)
from mtaimkg_jax.errors import ConfigError

ENCODER = HashingEncoder(dim=64)


def _encode(texts):
  return Features(ENCODER.encode(texts), np.array([bool(t) for t in texts]))


def _kg(prefix, n, features=None):
  names = [f'{prefix} entity {i} {"abcdefgh"[i % 8] * (i % 5 + 1)}'
           for i in range(n)]
  triples = np.array([[i, 0, (i + 1) % n] for i in range(n)], np.int64)
  return MMKG(name=prefix, entities=Vocab([f'{prefix}{i}' for i in range(n)]),
              relations=Vocab(['r']),
              triples={'train': triples, 'valid': triples[:0],
                       'test': triples[:0]},
              names=names, texts=names, features=features or {})


def _el_graph():
  kb = _kg('kb', 12)
  texts = [f'the mention of {kb.names[i]}' for i in range(6)]
  mentions = Mentions(texts=texts, answers=np.arange(6, dtype=np.int64))
  return build_el(ELTask('el/t', kb, {'train': mentions.take(np.arange(3)),
                                      'test': mentions.take(np.arange(3, 6))},
                         candidates=np.ones(12, bool)))


def test_a_built_graph_is_raw_until_featurized():
  built = _el_graph()
  assert built.features == {} and built.unifiers == {}
  assert [g.count for g in built.node_groups] == [12, 3, 3]
  graph = featurize_lib.featurize(built, 8, views=('surface',),
                                  encode_text=_encode)
  assert set(graph.features) == {'text', 'surface'}
  assert graph.features['text'].values.shape == (18, 8)
  # Unified jointly (one encoder): one unifier; the raw rows are dropped.
  assert len(graph.unifiers['text']) == 1
  assert all(not g.raw for g in graph.node_groups)


def test_a_new_node_lands_where_the_same_mention_in_the_graph_does():
  graph = featurize_lib.featurize(_el_graph(), 8, views=('surface',),
                                  encode_text=_encode)
  mention = graph.queries['test'].nodes[1]
  rows = featurize_lib.new_node(graph, graph.node_names[mention], _encode)
  assert set(rows) == {'text', 'surface'}
  for modality, row in rows.items():
    np.testing.assert_allclose(row, graph.features[modality].values[mention],
                               rtol=1e-5, atol=1e-5)


def test_a_new_node_needs_the_graph_encoder_and_text():
  graph = featurize_lib.featurize(_el_graph(), 8, encode_text=_encode)

  def other_encoder(texts):
    return Features(np.ones((len(texts), 5), np.float32),
                    np.ones(len(texts), bool))

  with pytest.raises(ConfigError, match='features.text_encoder'):
    featurize_lib.new_node(graph, 'a mention', other_encoder)
  without_text = featurize_lib.featurize(_el_graph(), 8)
  with pytest.raises(ConfigError, match='no text features'):
    featurize_lib.new_node(without_text, 'a mention', _encode)


def test_groups_of_different_encoders_are_unified_each_on_its_own():
  image = Features(np.random.default_rng(0).normal(size=(10, 6)).astype(
      np.float32), np.ones(10, bool))
  other = Features(np.random.default_rng(1).normal(size=(10, 9)).astype(
      np.float32), np.ones(10, bool))
  task = EATask('ea/t', _kg('a', 10, {'image': image}),
                _kg('b', 10, {'image': other}),
                train_pairs=np.array([[0, 0]]),
                test_pairs=np.array([[i, i] for i in range(1, 10)]))
  graph = featurize_lib.featurize(build_ea(task), 4, encode_text=_encode)
  assert len(graph.unifiers['image']) == 2  # 6 and 9 dims: two encoders
  assert len(graph.unifiers['text']) == 1  # one text encoder: joint
  apart = featurize_lib.featurize(build_ea(task, joint_features=False), 4,
                                  encode_text=_encode)
  assert len(apart.unifiers['text']) == 2
  # Each group on its own is centred on its own rows.
  values = apart.features['text'].values
  np.testing.assert_allclose(values[:10].mean(0), 0, atol=1e-5)
  np.testing.assert_allclose(values[10:].mean(0), 0, atol=1e-5)
