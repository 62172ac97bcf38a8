"""The embedded default: a deterministic synthetic multimodal KG.

Entities have types, communities and hidden identities; relations are
typed, prefer tails of the head's community, and some are compositions of
others (r_c = r_a ∘ r_b), so multi-hop structure predicts held-out links.
Text and image features are fixed random encodings of (type prototype +
community prototype + identity) plus noise, with missing rates;
`text_signal` < 1 mixes the text with a latent of its own (0: text that
says nothing about the facts), so graphs can differ in how much their
text tells. A second graph holds a noisy copy of part of the first under
other relation names and another text encoder (EA); mentions carry noisy
text of their entity (EL). Everything is a pure function of the spec.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mtaimkg_jax.data.mmkg import (EATask, ELTask, Features, LPTask, MMKG,
                                   Mentions, Vocab, split_pairs)

_SYLLABLES = ('ka', 'lo', 'mi', 'ru', 'te', 'va', 'zo', 'ne', 'pi', 'su',
              'da', 'fe', 'go', 'hu', 'ji', 'yo')


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
  seed: int = 0
  num_entities: int = 600
  num_types: int = 6
  num_communities: int = 12
  num_base_relations: int = 8
  num_composed_relations: int = 4
  tails_per_head: float = 1.5  # mean out-degree per base relation and head
  community_affinity: float = 0.8  # tails from the head's community
  latent_dim: int = 24
  text_dim: int = 48
  image_dim: int = 32
  text_noise: float = 0.5
  # Share of the text latent that is the entity's own (type, community,
  # identity); the rest is an independent random latent.
  text_signal: float = 1.0
  # Relations whose tail is the head's nearest entity by its own text
  # latent (as WordNet's derivationally related forms share words): facts
  # the text decides when `text_signal` is 1 and no structure predicts.
  num_text_relations: int = 0
  image_noise: float = 1.0
  text_missing: float = 0.1
  image_missing: float = 0.3
  ea_overlap: float = 0.7
  ea_edge_keep: float = 0.8
  ea_extra_entities: float = 0.15
  ea_text_dim: int = 40
  ea_noise: float = 0.3
  num_mentions: int = 600
  mention_noise: float = 0.8
  mention_image_rate: float = 0.5


def _names(rng: np.random.Generator, count: int) -> list[str]:
  names, seen = [], set()
  while len(names) < count:
    word = ''.join(rng.choice(_SYLLABLES, size=rng.integers(2, 4)))
    if word not in seen:
      seen.add(word)
      names.append(word)
  return names


def _encoder(rng: np.random.Generator, latent_dim: int,
             dim: int) -> np.ndarray:
  """A random "encoder": an orthonormal map of the latent space into `dim`
  features (a rotation when dim = latent_dim). Graphs encoded this way
  differ only by what feature unification removes."""
  if dim < latent_dim:
    raise ValueError(f'encoder dim {dim} < latent dim {latent_dim}')
  return np.linalg.qr(rng.normal(size=(dim, latent_dim)))[0].T


def _skewed(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
  """Zero-mean, skewed latent factors with decaying scales, so principal
  axes and their signs are well defined."""
  return (rng.exponential(size=(rows, dim)) - 1.0) * 0.97**np.arange(dim)


def _encode(rng: np.random.Generator, latent: np.ndarray,
            projection: np.ndarray, noise: float,
            missing: float) -> Features:
  """Encoded latent plus noise, with a fraction of rows missing."""
  dim = projection.shape[1]
  values = latent @ projection + noise * rng.normal(
      size=(len(latent), dim)) / np.sqrt(dim)
  present = rng.random(len(latent)) >= missing
  values[~present] = 0.0
  return Features(values.astype(np.float32), present)


def _typed_relations(rng, spec, types, communities):
  """Base relations by (head type, tail type) with community-biased tails,
  then compositions of chainable pairs."""
  by_type = [np.flatnonzero(types == t) for t in range(spec.num_types)]
  signatures, triples = [], []
  for r in range(spec.num_base_relations):
    head_type, tail_type = rng.integers(0, spec.num_types, 2)
    signatures.append((head_type, tail_type))
    tails = by_type[tail_type]
    for head in by_type[head_type]:
      count = rng.poisson(spec.tails_per_head)
      same = tails[communities[tails] == communities[head]]
      for _ in range(count):
        pool = same if (len(same) and rng.random() < spec.community_affinity
                        ) else tails
        triples.append((head, r, int(rng.choice(pool))))
  triples = np.unique(np.asarray(triples, np.int64).reshape(-1, 3), axis=0)
  chains = [(a, b) for a in range(spec.num_base_relations)
            for b in range(spec.num_base_relations)
            if signatures[a][1] == signatures[b][0]]
  rng.shuffle(chains)
  composed = []
  for c, (a, b) in enumerate(chains[:spec.num_composed_relations]):
    first = triples[triples[:, 1] == a]
    second = triples[triples[:, 1] == b]
    for head, _, middle in first:
      for _, _, tail in second[second[:, 0] == middle]:
        if rng.random() < 0.7:
          composed.append((head, spec.num_base_relations + c, tail))
  all_triples = np.concatenate(
      [triples, np.asarray(composed, np.int64).reshape(-1, 3)])
  num_relations = spec.num_base_relations + min(len(chains),
                                                spec.num_composed_relations)
  return np.unique(all_triples, axis=0), num_relations


def _text_relations(spec: SyntheticSpec, latent: np.ndarray,
                    first: int) -> np.ndarray:
  """Relations `first, first+1, ...`: half the entities each link to their
  nearest other entity by `latent` (cosine), from a stream of their own."""
  rng = np.random.default_rng([spec.seed, 2])
  unit = latent / np.linalg.norm(latent, axis=1, keepdims=True)
  similarity = unit @ unit.T
  np.fill_diagonal(similarity, -np.inf)
  nearest = np.argsort(-similarity, axis=1)
  out = []
  for r in range(spec.num_text_relations):
    heads = rng.choice(len(latent), len(latent) // 2, replace=False)
    out.append(np.stack([heads, np.full(len(heads), first + r),
                         nearest[heads, r]], axis=1))
  return np.concatenate(out).astype(np.int64)


def _split_transductive(rng, triples: np.ndarray, num_entities: int):
  """80/10/10 with every valid/test entity seen in train."""
  order = rng.permutation(len(triples))
  held = []
  degree = np.bincount(triples[:, [0, 2]].ravel(), minlength=num_entities)
  for i in order:
    h, _, t = triples[i]
    if len(held) < 0.2 * len(triples) and degree[h] > 1 and degree[t] > 1:
      held.append(i)
      degree[h] -= 1
      degree[t] -= 1
  held = np.asarray(held, np.int64)
  train = np.setdiff1d(np.arange(len(triples)), held)
  half = len(held) // 2
  return {'train': triples[np.sort(train)],
          'valid': triples[np.sort(held[:half])],
          'test': triples[np.sort(held[half:])]}


def make_synthetic(spec: SyntheticSpec = SyntheticSpec()
                   ) -> dict[str, LPTask | EATask | ELTask]:
  """{'lp/synthetic', 'ea/synthetic', 'el/synthetic'} task containers."""
  rng = np.random.default_rng(spec.seed)
  n = spec.num_entities
  types = rng.integers(0, spec.num_types, n)
  communities = rng.integers(0, spec.num_communities, n)
  prototypes = _skewed(rng, spec.num_types, spec.latent_dim)
  # Communities shape who links to whom, and show in the features: the
  # evidence a structure-only model has to infer from sparse edges.
  community_prototypes = _skewed(rng, spec.num_communities, spec.latent_dim)
  identity = _skewed(rng, n, spec.latent_dim)
  shared = prototypes[types] + community_prototypes[communities]
  text_latent = shared + identity
  if spec.text_signal != 1.0:  # its own stream: the rest stays the same
    unrelated = _skewed(np.random.default_rng([spec.seed, 1]), n,
                        spec.latent_dim)
    text_latent = (spec.text_signal * text_latent +
                   (1.0 - spec.text_signal) * 2.0 * unrelated)
  image_latent = shared + 0.5 * identity + 0.5 * _skewed(
      rng, n, spec.latent_dim)
  triples, num_relations = _typed_relations(rng, spec, types, communities)
  if spec.num_text_relations:
    triples = np.concatenate([triples, _text_relations(
        spec, shared + identity, num_relations)])
    num_relations += spec.num_text_relations
  names = _names(rng, n)
  relation_names = [f'rel_{r}' for r in range(num_relations)]
  text_encoder = _encoder(rng, spec.latent_dim, spec.text_dim)
  image_encoder = _encoder(rng, spec.latent_dim, spec.image_dim)
  kg1 = MMKG(
      name='synthetic', entities=Vocab([f'e{i}' for i in range(n)]),
      relations=Vocab(relation_names),
      triples=_split_transductive(rng, triples, n), names=names,
      texts=[''] * n, relation_names=relation_names,
      features={'text': _encode(rng, text_latent, text_encoder,
                                spec.text_noise, spec.text_missing),
                'image': _encode(rng, image_latent, image_encoder,
                                 spec.image_noise, spec.image_missing)})
  return {'lp/synthetic': LPTask(key='lp/synthetic', kg=kg1),
          'ea/synthetic': _alignment(rng, spec, kg1, triples, text_latent,
                                     image_latent),
          'el/synthetic': _linking(rng, spec, kg1, text_latent, image_latent,
                                   text_encoder, image_encoder)}


def _alignment(rng, spec, kg1: MMKG, triples: np.ndarray,
               text_latent: np.ndarray, image_latent: np.ndarray) -> EATask:
  """Graph 2: a noisy, renamed, re-encoded copy of part of graph 1."""
  n = kg1.num_entities
  shared = np.sort(rng.choice(n, int(spec.ea_overlap * n), replace=False))
  extra = int(spec.ea_extra_entities * n)
  total = len(shared) + extra
  order = rng.permutation(total)  # graph-2 id of each (shared, extra) slot
  to_g2 = np.full(n, -1)
  to_g2[shared] = order[:len(shared)]
  inside = (to_g2[triples[:, 0]] >= 0) & (to_g2[triples[:, 2]] >= 0)
  kept = triples[inside & (rng.random(len(triples)) < spec.ea_edge_keep)]
  relation_map = rng.permutation(kg1.num_relations)
  copied = np.stack([to_g2[kept[:, 0]], relation_map[kept[:, 1]],
                     to_g2[kept[:, 2]]], 1)
  extra_ids = order[len(shared):]
  noise_edges = np.stack([
      rng.choice(extra_ids, 2 * extra) if extra else np.zeros(0, np.int64),
      rng.integers(0, kg1.num_relations, 2 * extra),
      rng.integers(0, total, 2 * extra)], 1)
  g2_triples = np.unique(np.concatenate([copied, noise_edges]), axis=0)
  latent_dim = text_latent.shape[1]
  text2 = np.zeros((total, latent_dim))
  image2 = np.zeros((total, latent_dim))
  text2[order[:len(shared)]] = text_latent[shared]
  image2[order[:len(shared)]] = image_latent[shared]
  text2[extra_ids] = _skewed(rng, extra, latent_dim)
  image2[extra_ids] = _skewed(rng, extra, latent_dim)
  text2 += spec.ea_noise * rng.normal(size=text2.shape)
  image2 += spec.ea_noise * rng.normal(size=image2.shape)
  names2 = _names(rng, total)
  relations2 = [f'prop_{r}' for r in range(kg1.num_relations)]
  kg2 = MMKG(
      name='synthetic_2', entities=Vocab([f'f{i}' for i in range(total)]),
      relations=Vocab(relations2), triples={'train': g2_triples},
      names=names2, texts=[''] * total, relation_names=relations2,
      features={
          'text': _encode(rng, text2, _encoder(rng, latent_dim,
                                               spec.ea_text_dim),
                          spec.text_noise, spec.text_missing),
          'image': _encode(rng, image2, _encoder(rng, latent_dim,
                                                 spec.image_dim),
                           spec.image_noise, spec.image_missing)})
  pairs = np.stack([shared, to_g2[shared]], 1).astype(np.int64)
  train, valid, test = split_pairs(pairs, 0.3, spec.seed, valid_ratio=0.1)
  return EATask(key='ea/synthetic', kg1=kg1, kg2=kg2, train_pairs=train,
                valid_pairs=valid, test_pairs=test)


def _typo(rng, name: str) -> str:
  if len(name) < 3:
    return name
  i = int(rng.integers(1, len(name) - 1))
  return name[:i] + name[i + 1:]


def _linking(rng, spec, kb: MMKG, text_latent: np.ndarray,
             image_latent: np.ndarray, text_encoder: np.ndarray,
             image_encoder: np.ndarray) -> ELTask:
  """Mentions of random KB entities: noisy text through the KB's own text
  encoder (so they compare), images for some."""
  count = spec.num_mentions
  answers = rng.integers(0, kb.num_entities, count)
  text = _encode(rng, text_latent[answers] + spec.mention_noise * rng.normal(
      size=(count, text_latent.shape[1])), text_encoder, spec.text_noise, 0.0)
  image = _encode(rng, image_latent[answers] + spec.mention_noise *
                  rng.normal(size=(count, image_latent.shape[1])),
                  image_encoder, spec.image_noise,
                  1.0 - spec.mention_image_rate)
  texts = [f'{_typo(rng, kb.names[a])} appears here' for a in answers]
  bounds = {'train': (0, int(0.7 * count)),
            'valid': (int(0.7 * count), int(0.8 * count)),
            'test': (int(0.8 * count), count)}
  mentions = {
      split: Mentions(texts=texts[a:b], answers=answers[a:b].astype(np.int64),
                      features={'text': text.take(np.arange(a, b)),
                                'image': image.take(np.arange(a, b))})
      for split, (a, b) in bounds.items()}
  return ELTask(key='el/synthetic', kb=kb, mentions=mentions,
                candidates=np.ones(kb.num_entities, bool))


@dataclasses.dataclass(frozen=True)
class ScaleSpec:
  """A synthetic LP graph of any size (`make_scale_lp`), for measuring
  time and memory against edges; built in O(edges) numpy."""
  num_entities: int = 100_000
  triples_per_entity: float = 10.0
  num_types: int = 8
  num_communities: int = 64
  num_relations: int = 32
  community_affinity: float = 0.8
  latent_dim: int = 24
  text_dim: int = 48
  text_missing: float = 0.1
  held_out: float = 0.05  # fraction of triples in each of valid and test
  seed: int = 0


def make_scale_lp(spec: ScaleSpec) -> LPTask:
  """`lp/scale`: typed relations whose tails prefer the head's community,
  and text features from the same latent, as the default graph has; heads
  uniform, every quantity vectorised so that a million edges take seconds
  (the default generator's per-triple loops do not scale)."""
  rng = np.random.default_rng(spec.seed)
  n = spec.num_entities
  types = rng.integers(0, spec.num_types, n)
  communities = rng.integers(0, spec.num_communities, n)
  latent = (_skewed(rng, spec.num_types, spec.latent_dim)[types] +
            _skewed(rng, spec.num_communities, spec.latent_dim)[communities] +
            _skewed(rng, n, spec.latent_dim))
  tail_type = rng.integers(0, spec.num_types, spec.num_relations)
  count = int(spec.triples_per_entity * n)
  heads = rng.integers(0, n, count)
  relations = rng.integers(0, spec.num_relations, count)
  # Tails of the relation's type, from the head's community with
  # probability `community_affinity`: entities sorted by (type, community)
  # and by type, each bucket drawn from by offset.
  by_group = np.argsort(types * spec.num_communities + communities,
                        kind='stable')
  group_starts = np.searchsorted(
      (types * spec.num_communities + communities)[by_group],
      np.arange(spec.num_types * spec.num_communities + 1))
  by_type = np.argsort(types, kind='stable')
  type_starts = np.searchsorted(types[by_type], np.arange(spec.num_types + 1))
  group = tail_type[relations] * spec.num_communities + communities[heads]
  group_size = group_starts[group + 1] - group_starts[group]
  local = (rng.random(count) < spec.community_affinity) & (group_size > 0)
  kind = tail_type[relations]
  type_size = np.maximum(type_starts[kind + 1] - type_starts[kind], 1)
  tails = by_type[np.minimum(
      type_starts[kind] + (rng.random(count) * type_size).astype(np.int64),
      n - 1)]
  picked = group_starts[group] + (rng.random(count) * group_size).astype(
      np.int64)
  tails[local] = by_group[picked[local]]
  triples = np.unique(np.stack([heads, relations, tails], 1), axis=0)
  order = rng.permutation(len(triples))
  held = int(spec.held_out * len(triples))
  splits = {'valid': triples[np.sort(order[:held])],
            'test': triples[np.sort(order[held:2 * held])],
            'train': triples[np.sort(order[2 * held:])]}
  relation_names = [f'rel_{r}' for r in range(spec.num_relations)]
  names = [f'e{i}' for i in range(n)]
  kg = MMKG(name='scale', entities=Vocab(names),
            relations=Vocab(relation_names), triples=splits, names=names,
            texts=[''] * n, relation_names=relation_names,
            features={'text': _encode(rng, latent, _encoder(
                rng, spec.latent_dim, spec.text_dim), 0.5,
                                      spec.text_missing)})
  return LPTask(key='lp/scale', kg=kg)
