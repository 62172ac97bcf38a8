"""TensorFlow Datasets builders (array_record; TensorFlow is not needed).

One builder, `Mmkg`, with a config per dataset (MKG-W, DBP15K zh_en,
RichpediaMEL, the synthetic sets, or any path under a data root). It reads
the local files (the manual dir is the data root) through the project's own
readers and stores the task containers as rows of a few splits; `load_task`
reads them back into the same containers. So a prepared dataset can be
shipped to machines without the raw files, e.g. TPU VMs.

Splits (rows carry an `index` to restore order; id triples and pairs are
stored in chunks of `CHUNK` rows, flattened into `ids`; an empty split is
not written and reads back empty):
- LP: `entities`, `relations`, `triples_<split>`.
- EA: `kg1_entities`, `kg1_relations`, `kg1_triples_<split>`, the same for
  kg2, and `pairs_train`, `pairs_valid`, `pairs_test`.
- EL: `kb_entities`, `kb_relations`, `kb_triples_<split>`,
  `mentions_<split>`.
"""

from __future__ import annotations

import dataclasses
import os

import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from mtaimkg_jax.data import datasets, synthetic, tasks
from mtaimkg_jax.data.mmkg import (EATask, ELTask, Features, LPTask, MMKG,
                                   Mentions, Vocab)
from mtaimkg_jax.types import MODALITIES

_EMPTY = np.zeros((0,), np.float32)
_NO_IDS = np.zeros((0,), np.int64)
CHUNK = 4096


@dataclasses.dataclass
class MmkgConfig(tfds.core.BuilderConfig):
  dataset: str = 'lp/synthetic'
  train_ratio: float = 0.3
  seed: int = 0


def config_name(dataset: str) -> str:
  return ''.join(c if c.isalnum() else '_' for c in dataset.lower()).strip('_')


def _features():
  vector = tfds.features.Tensor(shape=(None,), dtype=np.float32)
  fields = {
      'index': np.int64, 'head': np.int64, 'relation': np.int64,
      'tail': np.int64, 'ids': tfds.features.Tensor(shape=(None,),
                                                    dtype=np.int64),
      'token': tfds.features.Text(),
      'name': tfds.features.Text(), 'text': tfds.features.Text(),
      'candidate': np.bool_,
  }
  for modality in MODALITIES:
    fields[f'{modality}_vector'] = vector
    fields[f'{modality}_present'] = np.bool_
  return tfds.features.FeaturesDict(fields)


def _row(index: int, **values) -> dict:
  row = {'index': index, 'head': -1, 'relation': -1, 'tail': -1,
         'ids': _NO_IDS, 'token': '', 'name': '', 'text': '',
         'candidate': False}
  for modality in MODALITIES:
    row[f'{modality}_vector'] = _EMPTY
    row[f'{modality}_present'] = False
  row.update(values)
  return row


def _feature_fields(features: dict[str, Features], i: int) -> dict:
  out = {}
  for modality, f in features.items():
    out[f'{modality}_vector'] = f.values[i].astype(np.float32)
    out[f'{modality}_present'] = bool(f.present[i])
  return out


def _chunks(ids: np.ndarray) -> list[dict]:
  """Integer rows [n, w] → rows of up to CHUNK of them, flattened."""
  return [_row(i, ids=ids[start:start + CHUNK].reshape(-1).astype(np.int64))
          for i, start in enumerate(range(0, len(ids), CHUNK))]


def _kg_rows(kg: MMKG, prefix: str,
             candidates: np.ndarray | None = None) -> dict:
  names = kg.relation_names or list(kg.relations.tokens)
  splits = {
      f'{prefix}entities': [
          _row(i, token=t, name=kg.names[i], text=kg.texts[i],
               candidate=bool(candidates[i]) if candidates is not None else
               False, **_feature_fields(kg.features, i))
          for i, t in enumerate(kg.entities.tokens)],
      f'{prefix}relations': [_row(i, token=t, name=names[i])
                             for i, t in enumerate(kg.relations.tokens)],
  }
  for split, triples in kg.triples.items():
    splits[f'{prefix}triples_{split}'] = _chunks(triples)
  return splits


def _lp_rows(task: LPTask) -> dict[str, list[dict]]:
  return _kg_rows(task.kg, '')


def _ea_rows(task: EATask) -> dict[str, list[dict]]:
  rows = {**_kg_rows(task.kg1, 'kg1_'), **_kg_rows(task.kg2, 'kg2_')}
  for split in ('train', 'valid', 'test'):
    rows[f'pairs_{split}'] = _chunks(getattr(task, f'{split}_pairs'))
  return rows


def _el_rows(task: ELTask) -> dict[str, list[dict]]:
  rows = _kg_rows(task.kb, 'kb_', task.candidates)
  for split, mentions in task.mentions.items():
    rows[f'mentions_{split}'] = [
        _row(i, text=t, tail=int(mentions.answers[i]),
             **_feature_fields(mentions.features, i))
        for i, t in enumerate(mentions.texts)]
  return rows


def task_rows(task: LPTask | EATask | ELTask) -> dict[str, list[dict]]:
  """A task container as rows per split."""
  return _CODECS[tasks.kind_of(task).name][0](task)


def _load_source(config: MmkgConfig, root: str) -> LPTask | EATask | ELTask:
  kind, rest = config.dataset.split('/', 1)
  if rest == 'synthetic':
    return synthetic.make_synthetic(synthetic.SyntheticSpec(
        seed=config.seed))[config.dataset]
  options = ml_collections.ConfigDict({
      'seed': config.seed,
      'ea': {'train_ratio': config.train_ratio, 'candidates': 'test',
             'valid_fraction': 0.0},
      'el': {'valid_fraction': 0.0}})
  return tasks.KINDS[kind].load(root, config.dataset, options)


class Mmkg(tfds.core.GeneratorBasedBuilder):
  """MMKG benchmarks and the synthetic default as array_record datasets."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'First release.'}
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      'Point manual_dir at the data root (the layout of ../shared/data: '
      'lp/<name>, ea/..., el/<name>).')
  BUILDER_CONFIGS = [
      MmkgConfig(name=config_name(d), dataset=d) for d in (
          'lp/MKG-W', 'ea/DBP15K/zh_en', 'el/RichpediaMEL', 'lp/synthetic',
          'ea/synthetic', 'el/synthetic')
  ]

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(features=_features(),
                                          disable_shuffling=True)

  def _split_generators(self, dl_manager):
    synthetic_set = self.builder_config.dataset.endswith('/synthetic')
    root = '' if synthetic_set else str(dl_manager.manual_dir)
    rows = task_rows(_load_source(self.builder_config, root))
    # tfds cannot write an empty split; a missing split reads back empty.
    return {split: self._generate_examples(values)
            for split, values in rows.items() if values}

  def _generate_examples(self, rows):
    for row in rows:
      yield row['index'], row


def build(dataset: str, data_dir: str, root: str = '', train_ratio=0.3,
          seed: int = 0) -> Mmkg:
  """Prepares `dataset` (read from `root`) into `data_dir` as array_record."""
  config = MmkgConfig(name=config_name(dataset), dataset=dataset,
                      train_ratio=train_ratio, seed=seed)
  predefined = {c.name: c for c in Mmkg.BUILDER_CONFIGS}
  if config.name in predefined:
    if predefined[config.name] != config:  # same dataset, other options
      config = dataclasses.replace(
          config, name=f'{config.name}_ratio{train_ratio:g}_seed{seed}'.replace(
              '.', '_'))
    else:
      config = config.name
  builder = Mmkg(config=config, data_dir=data_dir, file_format='array_record')
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=root or None))
  return builder


def _split(source, name: str) -> list[dict]:
  if name not in source:
    return []
  split = source[name]
  rows = list(split.__getitems__(list(range(len(split)))))
  return sorted(rows, key=lambda r: int(r['index']))


def _text(value) -> str:
  return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def _ids(source, name: str, width: int) -> np.ndarray:
  parts = [np.asarray(r['ids'], np.int64) for r in _split(source, name)]
  flat = np.concatenate(parts) if parts else _NO_IDS
  return flat.reshape(-1, width)


def _kg_from(source, prefix: str, name: str,
             required: tuple[str, ...] = ('train',)
             ) -> tuple[MMKG, np.ndarray]:
  entities = _split(source, f'{prefix}entities')
  relations = _split(source, f'{prefix}relations')
  stored = [s[len(f'{prefix}triples_'):] for s in source
            if s.startswith(f'{prefix}triples_')]
  splits = list(required) + [s for s in stored if s not in required]
  triples = {s: _ids(source, f'{prefix}triples_{s}', 3) for s in splits}
  kg = MMKG(name=name, entities=Vocab([_text(r['token']) for r in entities]),
            relations=Vocab([_text(r['token']) for r in relations]),
            triples=triples, names=[_text(r['name']) for r in entities],
            texts=[_text(r['text']) for r in entities],
            features=_features_of(entities),
            relation_names=[_text(r['name']) for r in relations])
  return kg, np.array([bool(r['candidate']) for r in entities])


def _features_of(rows: list[dict]) -> dict[str, Features]:
  features = {}
  for modality in MODALITIES:
    vectors = [np.asarray(r[f'{modality}_vector']) for r in rows]
    if any(v.size for v in vectors):
      features[modality] = Features(
          np.stack(vectors).astype(np.float32),
          np.array([bool(r[f'{modality}_present']) for r in rows]))
  return features


def _lp_from(source, dataset: str) -> LPTask:
  kg, _ = _kg_from(source, '', dataset.split('/', 1)[1], _LP_SPLITS)
  return datasets.lp_task(kg, dataset)


def _ea_from(source, dataset: str) -> EATask:
  rest = dataset.split('/', 1)[1]
  graphs = [_kg_from(source, f'kg{side}_',
                     f'{os.path.basename(rest)}_{side}')[0]
            for side in (1, 2)]
  pairs = {s: _ids(source, f'pairs_{s}', 2) for s in _LP_SPLITS}
  return EATask(key=dataset, kg1=graphs[0], kg2=graphs[1],
                train_pairs=pairs['train'], valid_pairs=pairs['valid'],
                test_pairs=pairs['test'])


def _el_from(source, dataset: str) -> ELTask:
  kb, candidates = _kg_from(source, 'kb_', dataset.split('/', 1)[1])
  mentions = {}
  for split in source:
    if split.startswith('mentions_'):
      rows = _split(source, split)
      texts = [_text(r['text']) for r in rows]
      mentions[split[len('mentions_'):]] = Mentions(
          texts=texts, answers=np.array([r['tail'] for r in rows], np.int64),
          features=_features_of(rows),
          # Stored as datasets.mention_text wrote them: the surface first.
          surfaces=[t.split(' | ', 1)[0] for t in texts])
  return ELTask(key=dataset, kb=kb, mentions=mentions, candidates=candidates)


_LP_SPLITS = ('train', 'valid', 'test')
# Per task kind: (container → rows per split, stored splits → container).
_CODECS = {'lp': (_lp_rows, _lp_from), 'ea': (_ea_rows, _ea_from),
           'el': (_el_rows, _el_from)}


def load_task(builder: Mmkg) -> LPTask | EATask | ELTask:
  """Reads a prepared dataset back into the task container."""
  dataset = builder.builder_config.dataset
  return _CODECS[dataset.split('/', 1)[0]][1](builder.as_data_source(),
                                              dataset)
