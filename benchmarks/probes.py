r"""Probes: parameter-free signals the model does not use yet.

Each probe adds one signal to the raw MiniLM cosine baseline of the quality
tables (same features, candidates and realistic ties), picks the signal's
weight on the *training* queries and reports the test metrics with it, so
the README can say what limits a target with a measured number:

  # EA: names of a node's neighbours (1-hop mean, own-graph edges only)
  python benchmarks/probes.py neighbour-names --dataset ea/DBP15K/zh_en
  # EA: seed pairs among a node's neighbours, added to names + neighbours'
  # names (the `anchors` view)
  python benchmarks/probes.py anchors --dataset ea/DBP15K/zh_en
  # EL: character trigrams of the mention's surface form vs entity names
  python benchmarks/probes.py surface-ngrams --dataset el/RichpediaMEL
  # EA: the entities' original-language names (their URIs) read by a
  # multilingual encoder, added to the model's EA names prior
  python benchmarks/probes.py original-names --dataset ea/DBP15K/zh_en
  # EL: the mention's sentence vs each entity's attribute text, added to
  # the model's names prior (text + 0.2 x trigrams); also on mentions
  # whose gold name other entities share; -homonyms: only among entities
  # that share a name
  python benchmarks/probes.py el-context --dataset el/RichpediaMEL
  python benchmarks/probes.py el-context-homonyms --dataset el/RichpediaMEL
  # LP zero-shot: two text signals added to ULTRA's logits, their weights
  # chosen on DB15K's validation queries, tested on MKG-W's full test set
  python benchmarks/probes.py lp-text --dataset lp/MKG-W --choose-on lp/DB15K
  # LP: how many validation and test answers train already links to the
  # query node (is the split weights are chosen on like the test split?)
  python benchmarks/probes.py linked-pairs --dataset lp/DB15K

Results are appended to `benchmarks/results/probes.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import pathlib
import sys
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

PROJECT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
from configs import presets, transfer  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax import config_base, metrics, summary  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data import features, loading, padding, views  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data.features import unit_rows  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.eval import results  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.eval.matching import one_to_one_ranks  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data.batches import eval_batches  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data.graph import KnownAnswers, QueryGraph  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.models import terms, ultra_import  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.types import MENTION  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.models.model import StructureOnly  # pylint: disable=g-import-not-at-top,wrong-import-position
from plan import ULTRA_3G  # pylint: disable=g-import-not-at-top,wrong-import-position

# One-to-one matching of cosine similarities: the temperature usual in EA.
SINKHORN_COSINE = 0.02
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
# Scores [Q, C] of a split's queries against its candidates, for weight w.
Scorer = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def split_ranks(graph: QueryGraph, split: str, candidates: np.ndarray,
                score: Scorer, weight: float, chunk: int = 1024) -> np.ndarray:
  """Realistic-tie ranks of `split`'s answers among `candidates` (sorted
  node ids)."""
  queries = graph.queries[split]
  columns = np.searchsorted(candidates, queries.answers)
  everyone = jnp.ones((len(candidates),), bool)
  ranks = []
  for start in range(0, len(queries), chunk):
    rows = slice(start, start + chunk)
    scores = jnp.asarray(score(queries.nodes[rows], candidates, weight))
    ranks.append(np.asarray(metrics.filtered_ranks(
        scores, jnp.asarray(columns[rows]), jnp.zeros(scores.shape, bool),
        everyone)))
  return np.concatenate(ranks)


def split_metrics(graph: QueryGraph, split: str, candidates: np.ndarray,
                  score: Scorer, weight: float) -> dict[str, float]:
  """`split_ranks`, summarised."""
  return metrics.summarize(split_ranks(graph, split, candidates, score,
                                       weight))


def probe(graph: QueryGraph, score: Scorer,
          candidates_of: Callable[[str], np.ndarray]) -> dict:
  """Weight chosen by train H@1 (ties → the smaller weight); test metrics
  at weight 0 (the baseline) and at the chosen weight."""
  train = {w: split_metrics(graph, 'train', candidates_of('train'), score, w)
           for w in WEIGHTS}
  chosen = max(WEIGHTS, key=lambda w: (train[w]['hits@1'], -w))
  test = candidates_of('test')
  return {'train_hits@1': {str(w): round(m['hits@1'], 4)
                           for w, m in train.items()},
          'weight': chosen,
          'test_baseline': split_metrics(graph, 'test', test, score, 0.0),
          'test_probe': split_metrics(graph, 'test', test, score, chosen)}


def load(dataset: str, task: str, root: str | None,
         text: bool = True) -> QueryGraph:
  """The graph as the raw-cosine baseline rows see it (384-d MiniLM), or
  its structure alone (`text=False`: nothing is encoded)."""
  config = transfer.get_config(f'task={task},dataset={dataset}')
  config.model.name = 'mtaimkg' if text else 'ultra'
  config.features.unification = 'none'
  config.features.k = 384
  config.ea.train_ratio = presets.reported_seed_ratio(dataset)
  if root:
    config.data.root = root
  (_, graph), = loading.load_graphs(config)
  return graph


def neighbour_names(graph: QueryGraph) -> dict:
  """EA: cosine of [x, w·unit(neighbours view of x)], the view as
  `views.neighbour_sums` builds it (`same_as`, the queried relation, left
  out); candidates = the split's graph-2 entities, as in evaluation."""
  text = graph.features['text']
  x = unit_rows(text.values.astype(np.float32))
  context = unit_rows(views.neighbour_sums(graph, x, text.present).values)

  def score(nodes, candidates, weight):
    def view(rows):
      return unit_rows(np.concatenate([x[rows], weight * context[rows]], 1))
    return view(nodes) @ view(candidates).T

  return probe(graph, score,
               lambda split: np.unique(graph.queries[split].answers))


def alignment_probe(graph: QueryGraph, score: Scorer) -> dict:
  """`probe` of an EA signal (candidates: the split's graph-2 entities),
  the test rows also after one-to-one matching at the cosine rows'
  temperature (`SINKHORN_COSINE`)."""
  def candidates_of(split):
    return np.unique(graph.queries[split].answers)

  result = probe(graph, score, candidates_of)
  test = graph.queries['test']
  candidates = candidates_of('test')
  columns = np.searchsorted(candidates, test.answers)[:, None]
  for name, weight in (('test_baseline', 0.0), ('test_probe',
                                                 result['weight'])):
    ranks = one_to_one_ranks(
        score(test.nodes, candidates, weight), columns, SINKHORN_COSINE,
        config_base.base_config().eval.sinkhorn_iterations)
    measured = metrics.summarize(ranks)
    result[name].update({f'one_to_one_{m}': measured[m]
                         for m in ('hits@1', 'mrr')})
  return result


def anchors(graph: QueryGraph) -> dict:
  """EA: cosine of names + cosine of neighbours' names + w · cosine of
  the `anchors` view (`views.anchor_codes`: seed pairs among the
  neighbours), the model's sum of per-view cosine priors
  (`alignment_probe`: also one-to-one test rows)."""
  text = graph.features['text']
  x = unit_rows(text.values.astype(np.float32))
  context = unit_rows(views.neighbour_sums(graph, x, text.present).values)
  codes = unit_rows(views.anchor_codes(graph).values)

  def score(nodes, candidates, weight):
    return (x[nodes] @ x[candidates].T +
            context[nodes] @ context[candidates].T +
            weight * (codes[nodes] @ codes[candidates].T))

  return alignment_probe(graph, score)


def original_names(graph: QueryGraph,
                   native: Callable[[list[str]], features.Features] = (
                       views.native_features)) -> dict:
  """EA: the model's names prior at initialisation (cosines of the
  translated names and of the neighbours' names, 0.3 x anchors, 0.2 x
  surface trigrams, `terms.NAMES_PRIOR_MODALITIES`) + w x cosine of a
  multilingual encoding of each entity's own name as its URI gives it (the
  original language on one side, English on the other: the `native`
  view's raw rows); w chosen on the seed pairs. Also the original names
  alone and one-to-one rows."""
  text = graph.features['text']
  x = unit_rows(text.values.astype(np.float32))
  context = unit_rows(views.neighbour_sums(graph, x, text.present).values)
  codes = unit_rows(views.anchor_codes(graph).values)
  surface = unit_rows(views.surface_features(graph.surface_forms).values)
  original = native(graph.surface_forms)
  o = unit_rows(original.values) * original.present[:, None]
  prior = terms.NAMES_PRIOR_MODALITIES

  def score(nodes, candidates, weight):
    def cos(v):
      return v[nodes] @ v[candidates].T
    return (cos(x) + cos(context) + prior['anchors'] * cos(codes) +
            prior['surface'] * cos(surface) + weight * cos(o))

  def alone(nodes, candidates, _):
    return o[nodes] @ o[candidates].T

  result = alignment_probe(graph, score)
  result['test_original_names_alone'] = split_metrics(
      graph, 'test', np.unique(graph.queries['test'].answers), alone, 0.0)
  return result


def surface_ngrams(graph: QueryGraph) -> dict:
  """EL: text cosine + w · cosine of character-trigram hashing vectors of
  the mention's surface form and the entity's name; all KB candidates."""
  x = unit_rows(graph.features['text'].values.astype(np.float32))
  encoder = features.HashingEncoder(dim=4096, char_ngrams=(3,))
  surface = encoder.encode(graph.surface_forms)

  def score(nodes, candidates, weight):
    return (x[nodes] @ x[candidates].T +
            weight * (surface[nodes] @ surface[candidates].T))

  candidates = np.flatnonzero(graph.candidates)
  return probe(graph, score, lambda _: candidates)


def context_texts(graph: QueryGraph) -> list[str]:
  """Per node of an EL graph, what it says besides its name: a mention's
  sentence (its text is `mention | sentence`) and a KB entity's attribute
  text (`Attribute: value.` per attribute fact, in file order); empty for
  attribute-value nodes."""
  contexts = [''] * graph.num_nodes
  for node in np.flatnonzero(graph.node_kind == MENTION):
    contexts[node] = graph.node_names[node].split(' | ', 1)[-1].strip()
  facts = graph.edges[(graph.edges[:, 1] < graph.num_base_relations) &
                      graph.candidates[graph.edges[:, 0]] &
                      ~graph.candidates[graph.edges[:, 2]]]
  attributes: dict[int, list[str]] = {}
  for entity, _, value in facts:
    attributes.setdefault(int(entity), []).append(graph.node_tokens[value])
  for entity, said in attributes.items():
    contexts[entity] = ' '.join(f'{a}.' for a in said)
  return contexts


def homonym_centring(graph: QueryGraph, candidates: np.ndarray
                     ) -> Callable[[np.ndarray], np.ndarray]:
  """A map of S [Q, C] (a signal over `candidates`) to S less, in each
  column of a candidate whose name (case and spaces folded) another
  candidate shares, the mean of S over that name's candidates, and 0 in
  every other column: a signal centred so only reorders entities that
  share a name."""
  _, group, size = np.unique(results.folded_names(graph)[candidates],
                             return_inverse=True, return_counts=True)
  columns = np.flatnonzero(size[group] >= 2)
  _, member = np.unique(group[columns], return_inverse=True)
  mean = np.zeros((len(columns), member.max() + 1), np.float32)
  mean[np.arange(len(columns)), member] = 1.0 / size[group[columns]]

  def centre(signal: np.ndarray) -> np.ndarray:
    out = np.zeros_like(signal)
    shared = signal[:, columns]
    out[:, columns] = shared - (shared @ mean)[:, member]
    return out

  return centre


def el_context(graph: QueryGraph,
               encoder: features.TextEncoder | None = None,
               within_homonyms: bool = False) -> dict:
  """EL: the model's names prior (text cosine + 0.2 x surface-trigram
  cosine, `terms.NAMES_PRIOR_MODALITIES`) + w x cosine of the MiniLM
  encodings of the mention's sentence alone and the entity's attribute
  text alone (with `within_homonyms`, centred within each set of entities
  that share a name, `homonym_centring`: it then orders those alone); w
  chosen on the training mentions. Test metrics also on the mentions
  whose gold name another entity shares (`results.shared_name`), and for
  text cosine alone (the names floor)."""
  x = unit_rows(graph.features['text'].values.astype(np.float32))
  surface = unit_rows(views.surface_features(graph.surface_forms).values)
  context = features.encode_texts(encoder or features.MiniLMEncoder(),
                                  context_texts(graph),
                                  features.default_cache_dir())
  c = unit_rows(context.values) * context.present[:, None]
  prior = terms.NAMES_PRIOR_MODALITIES['surface']
  candidates = np.flatnonzero(graph.candidates)
  centring = homonym_centring(graph, candidates) if within_homonyms else None

  def score(nodes, rows, weight):
    agreement = c[nodes] @ c[rows].T
    if centring is not None:
      agreement = centring(agreement)
    return (x[nodes] @ x[rows].T +
            prior * (surface[nodes] @ surface[rows].T) + weight * agreement)

  def text_alone(nodes, rows, _):
    return x[nodes] @ x[rows].T

  result = probe(graph, score, lambda _: candidates)
  shared = results.shared_name(graph, graph.queries['test'].answers)
  for name, scorer, weight in (('test_names_floor', text_alone, 0.0),
                               ('test_baseline', score, 0.0),
                               ('test_probe', score, result['weight'])):
    ranks = split_ranks(graph, 'test', candidates, scorer, weight)
    result[name] = metrics.summarize(ranks)
    result[name]['shared_name'] = metrics.summarize(ranks[shared])
  return result


def describe_context(result: dict) -> str:
  """`describe_gain`, then H@1 on the shared-name mentions."""
  shared = {k: result[k]['shared_name'] for k in (
      'test_names_floor', 'test_baseline', 'test_probe')}
  return (describe_gain(result) + f'; {shared["test_probe"]["count"]} '
          'shared-name mentions: H@1 names alone '
          f'{shared["test_names_floor"]["hits@1"]:.3f}, prior '
          f'{shared["test_baseline"]["hits@1"]:.3f}, with context '
          f'{shared["test_probe"]["hits@1"]:.3f}')


# LP: (prototype, text-neighbours) weight pairs tried on the choosing graph.
LP_WEIGHTS = tuple(itertools.product((0.0, 0.5, 1.0, 2.0),
                                     (0.0, 0.5, 1.0, 2.0, 4.0)))
TEXT_NEIGHBOURS = 10
# About this many validation answers of the choosing graph, spread over the
# split, are what the LP weights are chosen on.
CHOOSE_ANSWERS = 2000


class LPTextSignals:
  """Two parameter-free text signals for LP queries `(node, relation, ?)`,
  from the training facts and the node texts only; cosines and sums of
  cosines, so their scale is the same on every graph:

  - prototype: cosine of each node's text with the mean text of the
    relation's training answers (what kind of entity the relation points to);
  - neighbours: Σ, over the `k` nodes whose text is nearest the query
    node's, of that cosine (if > 0) times [(neighbour, relation, node) is a
    training fact] (what the relation points to from similar nodes).
  """

  def __init__(self, graph: QueryGraph, k: int = TEXT_NEIGHBOURS):
    text = graph.features['text']
    self.x = unit_rows(text.values.astype(np.float32)) * text.present[:, None]
    self.k = min(k, graph.num_nodes - 1)
    train = graph.queries['train']
    num_relations = graph.known.num_relations
    prototypes = np.zeros((num_relations, self.x.shape[1]), np.float32)
    np.add.at(prototypes, train.relations, self.x[train.answers])
    self.prototypes = unit_rows(prototypes)
    self.facts = KnownAnswers.from_triples(
        np.stack([train.nodes, train.relations, train.answers], 1),
        num_relations)

  def __call__(self, nodes: np.ndarray, relations: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """float32 [B, N] prototype and neighbours signals of B queries."""
    prototype = self.prototypes[relations] @ self.x.T
    similar = self.x[nodes] @ self.x.T
    similar[np.arange(len(nodes)), nodes] = -np.inf
    nearest = np.argpartition(-similar, self.k - 1, axis=1)[:, :self.k]
    weight = np.maximum(np.take_along_axis(similar, nearest, axis=1), 0.0)
    row, answer = self.facts.lookup(nearest.reshape(-1),
                                    np.repeat(relations, self.k))
    neighbours = np.zeros_like(prototype)
    np.add.at(neighbours, (row // self.k, answer), weight.reshape(-1)[row])
    return prototype, neighbours


def padded(graph: QueryGraph) -> tuple[padding.Budget, padding.GraphArrays]:
  """`graph` at its own budget, as device arrays, for ULTRA to score."""
  width = max(f.values.shape[1] for f in graph.features.values())
  budget = padding.choose_budget(graph)
  return budget, jax.tree_util.tree_map(
      jnp.asarray, padding.graph_arrays(graph, budget, width))


def ultra_params(checkpoint: str | None, config, graph: QueryGraph,
                 structure: tuple[padding.Budget, padding.GraphArrays]):
  """ULTRA's params from `checkpoint` (`ultra_*.pth`), else a random init
  on `graph` (`structure`: its `padded` arrays)."""
  if checkpoint:
    return {'backbone': ultra_import.load_ultra(
        checkpoint, config.model.num_layers, config.model.dim)}
  model = StructureOnly(config.model.dim, config.model.num_layers)
  budget, arrays = structure
  batch = next(eval_batches(graph, 'test', config.eval.batch_size, budget))
  return jax.jit(model.init)(jax.random.PRNGKey(0), arrays,
                             batch.queries, None)['params']


def lp_text_ranks(graph: QueryGraph, split: str, config, params,
                  structure: tuple[padding.Budget, padding.GraphArrays],
                  weights=LP_WEIGHTS, every: int = 1
                  ) -> dict[tuple[float, float], np.ndarray]:
  """Filtered (realistic-tie) ranks of the answers of every `every`-th
  batch of `split` (1: all of them) by ULTRA's logits + a·prototype +
  b·neighbours, for each (a, b) in `weights`; ULTRA scores each batch
  once. `structure`: `graph`'s `padded` arrays."""
  model = StructureOnly(config.model.dim, config.model.num_layers)
  budget, arrays = structure
  logits_of = jax.jit(
      lambda p, a, q: model.apply({'params': p}, a, q, None).logits)
  signals = LPTextSignals(graph)
  candidates = jnp.asarray(graph.candidates)
  ranks = {w: [] for w in weights}
  progress = summary.progress(  # about the answers every n-th batch holds
      -(-len(graph.queries[split]) // every), f'{graph.key}/{split}',
      unit='query')
  for batch in eval_batches(graph, split, config.eval.batch_size, budget,
                            every=every):
    nodes = np.asarray(batch.queries.nodes)
    logits = np.asarray(logits_of(params, arrays, batch.queries)
                        )[:, :graph.num_nodes]
    prototype, neighbours = signals(nodes, np.asarray(batch.queries.relations))
    exclude = jnp.asarray(batch.exclude[:, :graph.num_nodes])
    answers = jnp.asarray(batch.answers)
    for a, b in weights:
      scores = jnp.asarray(logits + a * prototype + b * neighbours)
      ranks[(a, b)].append(np.asarray(metrics.filtered_ranks(
          scores, answers, exclude, candidates))[batch.answer_valid])
    progress.update(int(batch.answer_valid.sum()))
  progress.close()
  return {w: np.concatenate(r) for w, r in ranks.items()}


def lp_text(graph: QueryGraph, choosing: QueryGraph,
            checkpoint: str | None = str(PROJECT / ULTRA_3G),
            choose_answers: int = CHOOSE_ANSWERS) -> dict:
  """LP zero-shot: the (prototype, neighbours) weights with the best MRR on
  about `choose_answers` validation answers of `choosing`, every n-th batch
  so that the sample spans the split (ties → the smaller weights);
  `graph`'s full test set at (0, 0) (ULTRA alone, the baseline) and at the
  chosen weights."""
  config = transfer.get_config(f'task=lp,dataset={graph.key}')
  choosing_structure = padded(choosing)
  params = ultra_params(checkpoint, config, choosing, choosing_structure)
  every = max(1, round(len(choosing.queries['valid']) / choose_answers))
  chosen_on = {w: metrics.summarize(r) for w, r in lp_text_ranks(
      choosing, 'valid', config, params, choosing_structure,
      every=every).items()}
  weight = max(LP_WEIGHTS, key=lambda w: (chosen_on[w]['mrr'], -sum(w)))
  test = lp_text_ranks(graph, 'test', config, params, padded(graph),
                       weights=((0.0, 0.0), weight))
  return {'chosen_on': f'{choosing.key} valid, 1 batch in {every}, '
                       f'{chosen_on[weight]["count"]} answers',
          'choose_mrr': {f'{a:g},{b:g}': round(m['mrr'], 4)
                         for (a, b), m in chosen_on.items()},
          'weight': {'prototype': weight[0], 'neighbours': weight[1]},
          'test_baseline': metrics.summarize(test[(0.0, 0.0)]),
          'test_probe': metrics.summarize(test[weight])}


def linked_pairs(graph: QueryGraph) -> dict:
  """LP: per evaluation split, the fraction of answers whose (query node,
  answer) pair a training fact already links, either way: how much of the
  split asks what the fact graph joins already (easy for ULTRA), so whether
  a split weights may be chosen on is like the test split."""
  train = graph.queries['train']
  n = graph.num_nodes
  linked = np.concatenate([train.nodes * n + train.answers,
                           train.answers * n + train.nodes])
  result = {}
  for split in ('valid', 'test'):
    queries = graph.queries[split]
    result[split] = {'answers': len(queries), 'linked_in_train': float(
        np.isin(queries.nodes * n + queries.answers, linked).mean())}
  return result


def describe_gain(result: dict) -> str:
  """The chosen weight and the test metrics without and with the signal."""
  base, best = result['test_baseline'], result['test_probe']
  weight = result['weight']
  if isinstance(weight, dict):
    weight = ', '.join(f'{k} {v:g}' for k, v in weight.items())
  return (f'weight {weight} (chosen on '
          f'{result.get("chosen_on", "train queries")}); test H@1 '
          f'{base["hits@1"]:.3f} → {best["hits@1"]:.3f}, MRR '
          f'{base["mrr"]:.3f} → {best["mrr"]:.3f}')


@dataclasses.dataclass(frozen=True)
class Probe:
  """One probe: the task its graphs are loaded as, whether it reads their
  text features, whether it chooses its weights on a second graph
  (`--choose-on`), and how its result is printed."""
  task: str
  run: Callable[..., dict]
  reads_text: bool = True
  chooses_on_another_graph: bool = False
  describe: Callable[[dict], str] = describe_gain


PROBES = {'anchors': Probe('ea', anchors),
          'neighbour-names': Probe('ea', neighbour_names),
          'original-names': Probe('ea', original_names),
          'surface-ngrams': Probe('el', surface_ngrams),
          'el-context': Probe('el', el_context, describe=describe_context),
          'el-context-homonyms': Probe(
              'el', functools.partial(el_context, within_homonyms=True),
              describe=describe_context),
          'lp-text': Probe('lp', lp_text, chooses_on_another_graph=True),
          'linked-pairs': Probe('lp', linked_pairs, reads_text=False,
                                describe=json.dumps)}


def result_key(probe: str, dataset: str, choose_on: str | None) -> str:
  """probes.json's key of a result: the probe, its graph and, with
  `--choose-on`, the graph whose valid split chose its weights (a dataset
  probed with weights chosen on two graphs keeps both results)."""
  return f'{probe} {dataset}' + (f' chosen on {choose_on}' if choose_on
                                 else '')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('probe', choices=sorted(PROBES))
  parser.add_argument('--dataset', required=True)
  parser.add_argument('--choose-on', default=None,
                      help='lp-text: the graph its weights are chosen on')
  parser.add_argument('--data-root', default=None)
  parser.add_argument('--out', default=str(PROJECT / 'benchmarks' / 'results'
                                           / 'probes.json'))
  args = parser.parse_args(argv)
  selected = PROBES[args.probe]
  if selected.chooses_on_another_graph != bool(args.choose_on):
    parser.error(f'{args.probe} needs --choose-on (e.g. lp/DB15K)'
                 if selected.chooses_on_another_graph else
                 f'{args.probe} chooses on its own graph: drop --choose-on')

  def load_graph(dataset):
    return load(dataset, selected.task, args.data_root, selected.reads_text)

  graphs = [load_graph(args.dataset)]
  if args.choose_on:
    graphs.append(load_graph(args.choose_on))
  result = selected.run(*graphs)
  out = pathlib.Path(args.out)
  found = json.loads(out.read_text()) if out.exists() else {}
  found[result_key(args.probe, args.dataset, args.choose_on)] = result
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(found, indent=1, sort_keys=True) + '\n')
  print(f'{args.probe} on {args.dataset}: {selected.describe(result)}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
