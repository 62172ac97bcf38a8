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

Results are appended to `benchmarks/results/probes.json`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Callable

import jax.numpy as jnp
import numpy as np

PROJECT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
from configs import transfer  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax import config_base, evaluation, metrics  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data import features, loading, views  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.calibration import unit_rows  # pylint: disable=g-import-not-at-top,wrong-import-position
from mtaimkg_jax.data.graph import QueryGraph  # pylint: disable=g-import-not-at-top,wrong-import-position
from quality import SINKHORN_COSINE  # pylint: disable=g-import-not-at-top,wrong-import-position

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0)
# Scores [Q, C] of a split's queries against its candidates, for weight w.
Scorer = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def split_metrics(graph: QueryGraph, split: str, candidates: np.ndarray,
                  score: Scorer, weight: float,
                  chunk: int = 1024) -> dict[str, float]:
  """Realistic-tie ranks of `split`'s answers among `candidates` (sorted
  node ids), summarised."""
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
  return metrics.summarize(np.concatenate(ranks))


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


def load(dataset: str, task: str, root: str | None) -> QueryGraph:
  """The graph as the raw-cosine baseline rows see it (384-d MiniLM)."""
  config = transfer.get_config(f'task={task},dataset={dataset}')
  config.model.name = 'baseline'
  config.features.unification = 'none'
  config.features.k = 384
  config.ea.train_ratio = config_base.reported_seed_ratio(dataset)
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


def anchors(graph: QueryGraph) -> dict:
  """EA: cosine of names + cosine of neighbours' names + w · cosine of
  the `anchors` view (`views.anchor_codes`: seed pairs among the
  neighbours), the model's sum of per-view cosine priors; the result also
  has test H@1/MRR after one-to-one matching at the cosine rows'
  temperature (0.02)."""
  text = graph.features['text']
  x = unit_rows(text.values.astype(np.float32))
  context = unit_rows(views.neighbour_sums(graph, x, text.present).values)
  codes = unit_rows(views.anchor_codes(graph).values)

  def score(nodes, candidates, weight):
    return (x[nodes] @ x[candidates].T +
            context[nodes] @ context[candidates].T +
            weight * (codes[nodes] @ codes[candidates].T))

  def candidates_of(split):
    return np.unique(graph.queries[split].answers)

  result = probe(graph, score, candidates_of)
  test = graph.queries['test']
  candidates = candidates_of('test')
  columns = np.searchsorted(candidates, test.answers)[:, None]
  for name, weight in (('test_baseline', 0.0), ('test_probe',
                                                 result['weight'])):
    ranks = evaluation.one_to_one_ranks(
        score(test.nodes, candidates, weight), columns, SINKHORN_COSINE,
        config_base.base_config().eval.sinkhorn_iterations)
    summary = metrics.summarize(ranks)
    result[name].update({f'one_to_one_{m}': summary[m]
                         for m in ('hits@1', 'mrr')})
  return result


def surface_ngrams(graph: QueryGraph) -> dict:
  """EL: text cosine + w · cosine of character-trigram hashing vectors of
  the mention's surface form and the entity's name; all KB candidates."""
  x = unit_rows(graph.features['text'].values.astype(np.float32))
  encoder = features.HashingEncoder(dim=4096, char_ngrams=(3,))
  surface = encoder.encode([views.surface_form(n)
                            for n in graph.node_names])

  def score(nodes, candidates, weight):
    return (x[nodes] @ x[candidates].T +
            weight * (surface[nodes] @ surface[candidates].T))

  candidates = np.flatnonzero(graph.candidates)
  return probe(graph, score, lambda _: candidates)


PROBES = {'anchors': ('ea', anchors),
          'neighbour-names': ('ea', neighbour_names),
          'surface-ngrams': ('el', surface_ngrams)}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('probe', choices=sorted(PROBES))
  parser.add_argument('--dataset', required=True)
  parser.add_argument('--data-root', default=None)
  parser.add_argument('--out', default=str(PROJECT / 'benchmarks' / 'results'
                                           / 'probes.json'))
  args = parser.parse_args(argv)
  task, run = PROBES[args.probe]
  result = run(load(args.dataset, task, args.data_root))
  out = pathlib.Path(args.out)
  found = json.loads(out.read_text()) if out.exists() else {}
  found[f'{args.probe} {args.dataset}'] = result
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(found, indent=1, sort_keys=True) + '\n')
  base, best = result['test_baseline'], result['test_probe']
  print(f'{args.probe} on {args.dataset}: weight {result["weight"]:g} '
        f'(by train H@1); test H@1 {base["hits@1"]:.3f} → '
        f'{best["hits@1"]:.3f}, MRR {base["mrr"]:.3f} → {best["mrr"]:.3f}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
