"""Datasets addressed by name under a data root, in the layout of
`../shared/data`:

- `lp/<name>`: `train.txt`, `valid.txt`, `test.txt` triples; optional
  `entity2text.txt`, `ent_links.tsv`, `relation2text.txt`,
  `image_features.npy` (+ optional `image_features.txt`: the entity of each
  row). A name ending in `_ind` is a GraIL inductive inference graph: fact
  graph = `train.txt`, test queries = `valid.txt` + `test.txt` (ULTRA's
  protocol).
- `ea/<...>/<pair>` with OpenEA files (`ent_ids_1`, `ent_ids_2`,
  `triples_1`, `triples_2`, `ill_ent_ids`, optional
  `translated_ent_name.json`), or with MMKB `same_as.txt` joining two `lp/`
  graphs (named by `graphs.txt`, or built in for `ea/FB15K-DB15K`).
- `el/<name>`: `train.json`, `test.json` (optional `valid.json`),
  `qid2abs.json`, `qid2ne.json`.
- `<task>/synthetic`: the generated default (`synthetic.py`).

A required file that holds nothing is a `DataError` naming it, and so is
an optional text, name or image file that gives no entity of the graph a
value (its keys are not the graph's ids); what each covers is kept in
`MMKG.coverage` (hygiene.py warns when it is low). An EA pair listed twice
is kept once (counted in `EATask.source_duplicates`), so it can never be
both a seed and a test query.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import urllib.parse
from typing import Sequence

import numpy as np

from mtaimkg_jax.data import formats
from mtaimkg_jax.data.features import load_feature_matrix
from mtaimkg_jax.data.mmkg import (EATask, ELTask, Features, LPTask, MMKG,
                                   Mentions, Vocab, encode_triples,
                                   hold_out, split_pairs)
from mtaimkg_jax.errors import ConfigError, DataError

LP_SPLITS = ('train', 'valid', 'test')
NAMES_FILE = 'translated_ent_name.json'

# MMKB's FB15K-DB15K release ships only the links; its graphs are these.
KNOWN_EA_GRAPHS = {'ea/FB15K-DB15K': ('lp/FB15k-237', 'lp/DB15K')}


def _dir(root: str, name: str) -> str:
  path = os.path.join(root, name)
  if not os.path.isdir(path):
    raise DataError(path, f'dataset {name!r} not found under data root '
                    f'{root!r}')
  return path


def readable_name(token: str) -> str:
  """`http://dbpedia.org/resource/Jim_Jones_(rapper)` → `Jim Jones (rapper)`."""
  if '://' in token:
    token = urllib.parse.unquote(token.rstrip('/').rsplit('/', 1)[-1])
  return token.replace('_', ' ').strip()


def _looks_readable(token: str) -> bool:
  """Whether an id itself is a readable name (URIs and YAGO/DBpedia names)."""
  if '://' in token:
    return 'wikidata.org/entity/' not in token
  return not (token.startswith('/m/') or token.isdigit())


def _covered(file: str, got: int, of: int,
             what: str = 'entities') -> tuple[int, int]:
  """(got, of) of an optional file that gave `got` of the graph's `of`
  `what` a value; none is a `DataError` naming the file."""
  if of and not got:
    raise DataError(file, f'gives none of the graph\'s {of} {what} a value: '
                    'its keys are not the ids the graph uses')
  return got, of


def _inductive(name: str) -> bool:
  """A GraIL inference graph (`*_ind`): its `valid.txt` only adds queries."""
  return name.rstrip('/').endswith('_ind')


def load_lp_graph(root: str, name: str) -> MMKG:
  """One `lp/<name>` directory → MMKG (all three splits present).

  `train.txt` and `test.txt` must hold triples, and `valid.txt` too unless
  the graph is inductive (`*_ind`), where it only adds test queries.
  """
  path = _dir(root, name)
  raw: dict[str, list[tuple[str, str, str]]] = {}
  for split in LP_SPLITS:
    file = os.path.join(path, f'{split}.txt')
    raw[split] = formats.read_triples(file)
    if split != 'valid' or not _inductive(name):
      formats.require_rows(file, raw[split], 'triples')
  entities = Vocab.build([[x for h, _, t in raw[s] for x in (h, t)]
                          for s in LP_SPLITS])
  relations = Vocab.build([[r for _, r, _ in raw[s]] for s in LP_SPLITS])
  triples = {
      s: encode_triples(os.path.join(path, f'{s}.txt'), raw[s], entities,
                        relations) for s in LP_SPLITS
  }
  names, texts, coverage = _lp_entity_text(path, entities)
  relation_names = [readable_name(r) for r in relations.tokens]
  relation_text = os.path.join(path, 'relation2text.txt')
  if os.path.exists(relation_text):
    table = formats.read_text_table(relation_text)
    relation_names = [table.get(r, n)
                      for r, n in zip(relations.tokens, relation_names)]
    coverage[relation_text] = _covered(
        relation_text, sum(r in table for r in relations.tokens),
        len(relations), 'relations')
  kg = MMKG(name=name, entities=entities, relations=relations,
            triples=triples, names=names, texts=texts,
            relation_names=relation_names, coverage=coverage)
  return _attach_image_features(kg, path, entities.tokens)


def _lp_entity_text(path: str, entities: Vocab
                    ) -> tuple[list[str], list[str], dict[str, tuple]]:
  """Names and texts from entity2text / ent_links / readable ids, and the
  coverage of the file they came from."""
  table: dict[str, str] = {}
  coverage = {}
  entity2text = os.path.join(path, 'entity2text.txt')
  links = os.path.join(path, 'ent_links.tsv')
  file = entity2text if os.path.exists(entity2text) else links
  if file == entity2text:
    table = formats.read_text_table(entity2text)
  elif os.path.exists(links):
    for uri, token in formats.read_pairs(links):
      table.setdefault(token, readable_name(uri))
  if os.path.exists(file):
    coverage[file] = _covered(file, sum(t in table for t in entities.tokens),
                              len(entities))
  names, texts = [], []
  for token in entities.tokens:
    text = table.get(token)
    if text is None and _looks_readable(token):
      text = readable_name(token)
    texts.append(text or '')
    names.append(text or token)
  return names, texts, coverage


def _attach_image_features(kg: MMKG, path: str, row_keys: Sequence[str],
                           described: int | None = None) -> MMKG:
  """Adds `image_features.npy` when present.

  Rows follow `row_keys` (the entity order), unless `image_features.txt`
  lists the key of each row; then unlisted entities are absent. Its
  coverage counts the first `described` entities (default all; an EL
  knowledge base's QIDs, not its attribute values).
  """
  npy = os.path.join(path, 'image_features.npy')
  if not os.path.exists(npy):
    return kg
  described = kg.num_entities if described is None else described
  index_file = os.path.join(path, 'image_features.txt')
  if not os.path.exists(index_file):
    features = load_feature_matrix(npy, len(row_keys))
    return _with_image(kg, features, npy, described)
  keys = [line for _, line in formats.read_lines(index_file)]
  rows = load_feature_matrix(npy, len(keys))
  position = {key: i for i, key in enumerate(row_keys)}
  values = np.zeros((kg.num_entities, rows.dim), np.float32)
  present = np.zeros((kg.num_entities,), bool)
  for line, key in enumerate(keys, start=1):
    if key not in position:
      raise DataError(index_file, f'unknown entity {key!r}', line)
    values[position[key]] = rows.values[line - 1]
    present[position[key]] = rows.present[line - 1]
  return _with_image(kg, Features(values, present), index_file, described)


def _with_image(kg: MMKG, features: Features, file: str,
                described: int) -> MMKG:
  """`kg` with its image features and the coverage of `file`."""
  kg = kg.with_features('image', features)
  got = int(features.present[:described].sum())
  return dataclasses.replace(kg, coverage={
      **kg.coverage, file: _covered(file, got, described)})


def lp_task(kg: MMKG, name: str) -> LPTask:
  """The LP protocol of a graph: GraIL inductive (`*_ind`) or standard."""
  if _inductive(name):
    return LPTask(key=name, kg=kg, fact_splits=('train',), train_split=None,
                  eval_splits={'test': ('valid', 'test')},
                  filter_splits=LP_SPLITS)
  return LPTask(key=name, kg=kg)


def load_lp_task(root: str, name: str) -> LPTask:
  return lp_task(load_lp_graph(root, name), name)


def _openea_graph(path: str, side: int, names: dict[int, str] | None
                  ) -> tuple[MMKG, dict[int, int]]:
  ids_file = os.path.join(path, f'ent_ids_{side}')
  triples_file = os.path.join(path, f'triples_{side}')
  id_table = formats.read_id_table(ids_file)
  formats.require_rows(ids_file, id_table, 'entities')
  global_ids = list(id_table)
  entities = Vocab([id_table[g] for g in global_ids])
  local = {g: i for i, g in enumerate(global_ids)}
  rows, lines = formats.read_id_triples(triples_file)
  formats.require_rows(triples_file, rows, 'triples')
  relation_ids = sorted(set(rows[:, 1].tolist()))
  relation_local = {r: i for i, r in enumerate(relation_ids)}
  triples = np.empty_like(rows)
  for i, (h, r, t) in enumerate(rows.tolist()):
    for ident in (h, t):
      if ident not in local:
        raise DataError(triples_file, f'unknown entity id {ident} (not in '
                        f'ent_ids_{side})', int(lines[i]))
    triples[i] = (local[h], relation_local[r], local[t])
  texts = []
  for g in global_ids:
    if names is not None and g in names:
      texts.append(names[g])
    else:
      texts.append(readable_name(id_table[g]) if names is None else '')
  display = [readable_name(id_table[g]) for g in global_ids]
  coverage = {} if names is None else {os.path.join(path, NAMES_FILE): (
      sum(g in names for g in global_ids), len(global_ids))}
  kg = MMKG(name=f'{os.path.basename(path)}_{side}', entities=entities,
            relations=Vocab([str(r) for r in relation_ids]),
            triples={'train': triples}, names=display, texts=texts,
            coverage=coverage)
  return kg, local


def _openea_image_features(path: str, kg1: MMKG, local1: dict[int, int],
                           kg2: MMKG, local2: dict[int, int]
                           ) -> tuple[MMKG, MMKG]:
  """`image_features.npy` of an OpenEA pair: row g ↔ global entity id g."""
  npy = os.path.join(path, 'image_features.npy')
  if not os.path.exists(npy):
    return kg1, kg2
  rows = load_feature_matrix(npy, 1 + max(max(local1), max(local2)))
  out = []
  for kg, local in ((kg1, local1), (kg2, local2)):
    order = np.asarray(sorted(local, key=local.get), np.int64)
    features = rows.take(order)
    out.append(dataclasses.replace(
        kg.with_features('image', features), coverage={
            **kg.coverage, npy: (int(features.present.sum()), len(order))}))
  _covered_by_both(npy, *out)
  return out[0], out[1]


def _covered_by_both(file: str, kg1: MMKG, kg2: MMKG) -> None:
  """An alignment's file must give an entity of one of its graphs a
  value."""
  _covered(file, *np.add(kg1.coverage[file], kg2.coverage[file]).tolist())


def load_ea_task(root: str, name: str, train_ratio: float = 0.3,
                 seed: int = 0, candidates: str = 'test',
                 valid_fraction: float = 0.0) -> EATask:
  """An `ea/...` directory → EATask with a seeded seed/test split;
  `valid_fraction` of the seed pairs are held out as validation queries
  (the test split stays the same)."""
  if not 0.0 < train_ratio < 1.0:
    raise ConfigError('tasks[].train_ratio',
                      f'must be in (0, 1), got {train_ratio}')
  if candidates not in ('test', 'all'):
    raise ConfigError('tasks[].candidates',
                      f"must be 'test' or 'all', got {candidates!r}")
  path = _dir(root, name)
  if os.path.exists(os.path.join(path, 'same_as.txt')):
    pairs_file = os.path.join(path, 'same_as.txt')
    kg1, kg2, pairs, duplicates = _same_as_graphs(root, name, path)
  else:
    names_file = os.path.join(path, NAMES_FILE)
    names = (formats.read_translated_names(names_file)
             if os.path.exists(names_file) else None)
    kg1, local1 = _openea_graph(path, 1, names)
    kg2, local2 = _openea_graph(path, 2, names)
    if names is not None:
      _covered_by_both(names_file, kg1, kg2)
    pairs_file = os.path.join(path, 'ill_ent_ids')
    rows, lines = formats.read_id_pairs(pairs_file)
    formats.require_rows(pairs_file, rows, 'pairs')
    pairs = np.empty_like(rows)
    for i, (a, b) in enumerate(rows.tolist()):
      if a not in local1 or b not in local2:
        bad = a if a not in local1 else b
        raise DataError(pairs_file, f'unknown entity id {bad}', int(lines[i]))
      pairs[i] = (local1[a], local2[b])
    kg1, kg2 = _openea_image_features(path, kg1, local1, kg2, local2)
    pairs, duplicates = _unique_pairs(pairs_file, pairs)
  seeds, _, test = split_pairs(pairs, train_ratio, seed)
  train, valid = hold_out(seeds, valid_fraction, seed)
  if not len(train) or not len(test) or (valid_fraction and not len(valid)):
    raise DataError(pairs_file, f'{len(pairs)} distinct pairs leave '
                    f'{len(train)} seeds, {len(valid)} validation and '
                    f'{len(test)} test pairs at ea.train_ratio={train_ratio}, '
                    f'ea.valid_fraction={valid_fraction}: too few pairs')
  return EATask(key=name, kg1=kg1, kg2=kg2, train_pairs=train,
                valid_pairs=valid, test_pairs=test, candidates=candidates,
                source_duplicates=duplicates)


def _unique_pairs(path: str, pairs: np.ndarray) -> tuple[np.ndarray, int]:
  """`pairs` with repeats dropped (first kept, order kept) and their count.

  Dropped before the seeded split: a pair listed twice could otherwise be
  a seed (a `same_as` edge) and a test query at once.
  """
  _, first = np.unique(pairs, axis=0, return_index=True)
  duplicates = len(pairs) - len(first)
  if duplicates:
    logging.warning('%s: %d pairs repeat an earlier line and are left out',
                    path, duplicates)
  return pairs[np.sort(first)], duplicates


def _same_as_graphs(root: str, name: str,
                    path: str) -> tuple[MMKG, MMKG, np.ndarray, int]:
  """The two graphs `same_as.txt` joins, its one-to-one pairs and the count
  of links that repeat an earlier link exactly."""
  graphs_file = os.path.join(path, 'graphs.txt')
  if os.path.exists(graphs_file):
    graph_names = [line.strip()
                   for _, line in formats.read_lines(graphs_file)]
    if len(graph_names) != 2:
      raise DataError(graphs_file, 'expected two lines naming the two graphs '
                      '(e.g. lp/FB15k-237 and lp/DB15K)')
  elif name.rstrip('/') in KNOWN_EA_GRAPHS:
    graph_names = KNOWN_EA_GRAPHS[name.rstrip('/')]
  else:
    raise DataError(graphs_file, 'file not found: it names the two lp/ graphs '
                    'that same_as.txt joins')
  kg1, kg2 = (_merged_lp_graph(root, g) for g in graph_names)
  links_file = os.path.join(path, 'same_as.txt')
  links = formats.read_same_as(links_file)
  pairs, dropped, repeated, seen1, seen2 = [], 0, 0, {}, set()
  duplicates = 0
  for left, right in links:
    a, b = kg1.entities.get(left), kg2.entities.get(right)
    if a is None or b is None:
      dropped += 1
      continue
    if seen1.get(a) == b:
      duplicates += 1
      continue
    if a in seen1 or b in seen2:
      repeated += 1  # one-to-one alignment: the first link of an entity wins
      continue
    seen1[a] = b
    seen2.add(b)
    pairs.append((a, b))
  if not pairs:
    raise DataError(links_file, 'no link joins entities of '
                    f'{graph_names[0]} and {graph_names[1]}')
  if dropped:
    logging.info('%s: %d of %d links name an entity outside the two graphs '
                 'and are left out', links_file, dropped, len(links))
  if repeated:
    logging.info('%s: %d links repeat an already linked entity and are left '
                 'out', links_file, repeated)
  if duplicates:
    logging.warning('%s: %d links repeat an earlier link and are left out',
                    links_file, duplicates)
  return kg1, kg2, np.asarray(pairs, np.int64), duplicates


def _merged_lp_graph(root: str, name: str) -> MMKG:
  """An lp/ graph with all its splits as one fact graph (for EA)."""
  kg = load_lp_graph(root, name)
  return MMKG(name=kg.name, entities=kg.entities, relations=kg.relations,
              triples={'train': kg.all_triples(LP_SPLITS)}, names=kg.names,
              texts=kg.texts, features=kg.features,
              relation_names=kg.relation_names, coverage=kg.coverage)


def mention_text(mention: dict[str, str]) -> str:
  """What a mention node reads: the mention, then its sentence."""
  return f"{mention['mentions'].strip()} | {mention['sentence'].strip()}"


def load_el_task(root: str, name: str, valid_fraction: float = 0.0,
                 seed: int = 0) -> ELTask:
  """An `el/<name>` directory → ELTask over a KB graph parsed from text;
  `valid_fraction` of the training mentions are held out as the `valid`
  split (for datasets without `valid.json`)."""
  path = _dir(root, name)
  abstracts_file = os.path.join(path, 'qid2abs.json')
  abstracts = formats.read_string_map(abstracts_file)
  names_file = os.path.join(path, 'qid2ne.json')
  entity_names = formats.read_string_map(names_file)
  formats.require_rows(names_file, entity_names, 'entities')
  qids = list(entity_names)
  for qid in abstracts:
    if qid not in entity_names:
      raise DataError(abstracts_file, f'entry {qid!r}: not in qid2ne.json')
  values: dict[str, None] = {}
  relations: dict[str, None] = {}
  raw = []
  for qid in qids:
    for attribute, value in formats.parse_attribute_text(
        abstracts.get(qid, '')):
      token = f'{attribute}: {value}'
      if token in entity_names:
        raise DataError(abstracts_file, f'entry {qid!r}: attribute value '
                        f'{token!r} is also an entity of qid2ne.json')
      values.setdefault(token, None)
      relations.setdefault(attribute, None)
      raw.append((qid, attribute, token))
  if not raw:
    raise DataError(abstracts_file, 'no attribute text parses to a fact '
                    '("Attribute: value. ..."): the knowledge base would have '
                    'no edges')
  entities = Vocab(qids + list(values))
  relation_vocab = Vocab(list(relations))
  triples = encode_triples(abstracts_file, raw, entities, relation_vocab)
  names = [entity_names[q] for q in qids] + [
      v.split(': ', 1)[1] for v in values]
  texts = [f'{entity_names[q]}. {abstracts.get(q, "")}'.strip()
           for q in qids] + [v.split(': ', 1)[1] for v in values]
  kb = MMKG(name=name, entities=entities, relations=relation_vocab,
            triples={'train': triples}, names=names, texts=texts)
  kb = _attach_image_features(kb, path, entities.tokens, len(qids))
  mentions = {}
  for split in ('train', 'valid', 'test'):
    file = os.path.join(path, f'{split}.json')
    if split == 'valid' and not os.path.exists(file):
      continue
    entries = formats.read_mentions(file)
    formats.require_rows(file, entries, 'mentions')
    answers = np.empty((len(entries),), np.int64)
    for i, entry in enumerate(entries):
      ident = entities.get(entry['answer'])
      if ident is None or ident >= len(qids):
        raise DataError(file, f'mention {i}: answer {entry["answer"]!r} is not '
                        'an entity of qid2ne.json')
      answers[i] = ident
    mentions[split] = Mentions(texts=[mention_text(e) for e in entries],
                               answers=answers,
                               surfaces=[e['mentions'].strip()
                                         for e in entries])
  if valid_fraction > 0:
    if 'valid' in mentions:
      raise ConfigError('el.valid_fraction', f'{path} has its own valid.json; '
                        'leave el.valid_fraction at 0')
    kept, held = hold_out(np.arange(len(mentions['train'])), valid_fraction,
                          seed)
    mentions['valid'] = mentions['train'].take(held)
    mentions['train'] = mentions['train'].take(kept)
    if not len(kept) or not len(held):
      raise DataError(os.path.join(path, 'train.json'), f'{len(kept)} '
                      f'training and {len(held)} validation mentions at '
                      f'el.valid_fraction={valid_fraction}: too few mentions')
  candidates = np.zeros((len(entities),), bool)
  candidates[:len(qids)] = True
  return ELTask(key=name, kb=kb, mentions=mentions, candidates=candidates)
