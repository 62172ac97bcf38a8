"""Every reader on the real files of ../shared/data: counts equal the table
of ../shared/data/README.md."""

import pathlib

import numpy as np
import pytest

from mtaimkg_jax.data import datasets
from mtaimkg_jax.errors import ConfigError, DataError

LP_TABLE = {
    'lp/MKG-W': (15000, 169, 34196, 4276, 4274),
    'lp/MKG-Y': (15000, 28, 21310, 2665, 2663),
    'lp/DB15K': (12842, 279, 79222, 9904, 9902),
    'lp/FB15k-237': (14541, 237, 272115, 17535, 20466),
    'lp/WN18RR++': (41105, 11, 86835, 3034, 3134),
}


@pytest.mark.parametrize('name', sorted(LP_TABLE))
def test_lp_counts(data_root, name):
  kg = datasets.load_lp_graph(data_root, name)
  entities, relations, train, valid, test = LP_TABLE[name]
  assert kg.num_entities == entities
  assert kg.num_relations == relations
  assert [len(kg.triples[s]) for s in ('train', 'valid', 'test')] == [
      train, valid, test]
  # Every entity of these releases has readable text.
  assert all(kg.texts)


def test_lp_text_sources(data_root):
  w = datasets.load_lp_graph(data_root, 'lp/MKG-W')
  jim = w.entities['http://www.wikidata.org/entity/Q707008']
  assert w.names[jim] == 'Jim Jones (rapper)'
  fb = datasets.load_lp_graph(data_root, 'lp/FB15k-237')
  assert fb.texts[fb.entities['/m/016ywr']] == 'Jeremy Irons'
  wn = datasets.load_lp_graph(data_root, 'lp/WN18RR++')
  assert 'also see' in wn.relation_names


@pytest.mark.parametrize('name,lines', [
    ('fb237_v1', (4245, 489, 492)), ('fb237_v1_ind', (1993, 206, 205)),
    ('WN18RR_v1', (5410, 630, 638)), ('WN18RR_v1_ind', (1618, 185, 188)),
    ('nell_v1', (4687, 414, 439)), ('nell_v1_ind', (833, 101, 100))])
def test_grail_counts_and_protocol(data_root, name, lines):
  task = datasets.load_lp_task(data_root, f'lp/grail/{name}')
  assert [len(task.kg.triples[s]) for s in ('train', 'valid', 'test')] == list(
      lines)
  if name.endswith('_ind'):
    # ULTRA's protocol: fact graph = train.txt, test = valid + test.
    assert task.fact_splits == ('train',) and task.train_split is None
    assert task.eval_splits == {'test': ('valid', 'test')}
  else:
    assert task.train_split == 'train'


@pytest.mark.parametrize('pair,sizes,triples', [
    ('zh_en', (19388, 19572), (70414, 95142)),
    ('ja_en', (19814, 19780), (77214, 93484))])
def test_dbp15k_counts(data_root, pair, sizes, triples):
  task = datasets.load_ea_task(data_root, f'ea/DBP15K/{pair}', 0.3, seed=0)
  assert (task.kg1.num_entities, task.kg2.num_entities) == sizes
  assert (len(task.kg1.triples['train']),
          len(task.kg2.triples['train'])) == triples
  assert len(task.train_pairs) == 4500 and len(task.test_pairs) == 10500
  # Translated names are the text of both sides.
  assert all(task.kg1.texts) and all(task.kg2.texts)
  # The seeded split is reproducible and disjoint.
  again = datasets.load_ea_task(data_root, f'ea/DBP15K/{pair}', 0.3, seed=0)
  np.testing.assert_array_equal(task.train_pairs, again.train_pairs)
  other = datasets.load_ea_task(data_root, f'ea/DBP15K/{pair}', 0.3, seed=1)
  assert not np.array_equal(task.train_pairs, other.train_pairs)
  seen = {tuple(p) for p in task.train_pairs}
  assert not seen & {tuple(p) for p in task.test_pairs}


def test_held_out_seeds_leave_the_test_split_alone(data_root):
  full = datasets.load_ea_task(data_root, 'ea/DBP15K/zh_en', 0.3, seed=0)
  task = datasets.load_ea_task(data_root, 'ea/DBP15K/zh_en', 0.3, seed=0,
                               valid_fraction=0.1)
  np.testing.assert_array_equal(task.test_pairs, full.test_pairs)
  assert (len(task.train_pairs), len(task.valid_pairs)) == (4050, 450)
  seeds = {tuple(p) for p in full.train_pairs}
  kept = {tuple(p) for p in task.train_pairs}
  held = {tuple(p) for p in task.valid_pairs}
  assert kept | held == seeds and not kept & held


def test_fb15k_db15k(data_root):
  task = datasets.load_ea_task(data_root, 'ea/FB15K-DB15K', 0.2, seed=0)
  assert task.kg1.num_entities == 14541 and task.kg2.num_entities == 12842
  pairs = len(task.train_pairs) + len(task.test_pairs)
  # 12,846 links; those naming entities outside FB15k-237 / DB15K, and
  # repeats of an already linked entity, are left out.
  assert 12000 < pairs <= 12846
  assert len(task.train_pairs) == round(0.2 * pairs)


def test_held_out_mentions_leave_the_test_split_alone(data_root):
  full = datasets.load_el_task(data_root, 'el/RichpediaMEL')
  task = datasets.load_el_task(data_root, 'el/RichpediaMEL',
                               valid_fraction=0.1, seed=0)
  assert (len(task.mentions['train']), len(task.mentions['valid'])) == (
      12820, 1424)
  assert task.mentions['test'].texts == full.mentions['test'].texts
  # Kept and held out together are the training mentions, each once.
  def pairs(mentions):
    return sorted(zip(mentions.texts, mentions.answers.tolist()))
  assert pairs(full.mentions['train']) == sorted(
      pairs(task.mentions['train']) + pairs(task.mentions['valid']))


def test_held_out_mentions_need_a_dataset_without_valid_json(data_root,
                                                             tmp_path):
  source = pathlib.Path(data_root) / 'el' / 'RichpediaMEL'
  copy = tmp_path / 'el' / 'RichpediaMEL'
  copy.mkdir(parents=True)
  for file in source.iterdir():
    (copy / file.name).symlink_to(file)
  (copy / 'valid.json').symlink_to(source / 'test.json')
  assert len(datasets.load_el_task(str(tmp_path), 'el/RichpediaMEL'
                                   ).mentions['valid']) == 3561
  with pytest.raises(ConfigError, match='el.valid_fraction'):
    datasets.load_el_task(str(tmp_path), 'el/RichpediaMEL',
                          valid_fraction=0.1)


def test_richpedia_counts(data_root):
  task = datasets.load_el_task(data_root, 'el/RichpediaMEL')
  assert len(task.mentions['train']) == 14244
  assert len(task.mentions['test']) == 3561
  assert int(task.candidates.sum()) == 17805
  # Attribute text parsed into triples gives the KB structure.
  assert task.kb.num_relations >= 2
  assert len(task.kb.triples['train']) > 40000
  # The gold entity name never reaches the mention text.
  assert 'Karl Friedrich Küstner' not in task.mentions['test'].texts[1].split(
      ' | ')[0]


def test_unknown_dataset_names_root(tmp_path):
  with pytest.raises(DataError, match='not found under data root'):
    datasets.load_lp_graph(str(tmp_path), 'lp/nothing')


def test_user_graph_in_the_same_format_loads(tmp_path):
  d = tmp_path / 'lp' / 'mine'
  d.mkdir(parents=True)
  (d / 'train.txt').write_text('a\tr\tb\nb\tr\tc\nc\ts\ta\n')
  (d / 'valid.txt').write_text('a\ts\tc\n')
  (d / 'test.txt').write_text('b\ts\ta\n')
  (d / 'entity2text.txt').write_text('a\tAlpha\nb\tBeta\n')
  np.save(d / 'image_features.npy',
          np.array([[1, 2], [np.nan, np.nan], [3, 4]], np.float32))
  kg = datasets.load_lp_graph(str(tmp_path), 'lp/mine')
  assert kg.names == ['Alpha', 'Beta', 'c']
  assert kg.texts == ['Alpha', 'Beta', 'c']
  np.testing.assert_array_equal(kg.features['image'].present,
                                [True, False, True])
