"""Config → task graphs: the entry point of the data pipeline.

Reads `config.tasks` (a list of `(task, dataset, weight)`), loads each
dataset by name (real files under `config.data.root`, or the synthetic
default), builds and featurizes its graph (data/featurize.py), and returns
one `QueryGraph` per entry. Validates the config keys it reads and names
them in errors.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Sequence

import ml_collections

from mtaimkg_jax.data import evidence, featurize, hygiene, synthetic
from mtaimkg_jax.data.graph import QueryGraph
from mtaimkg_jax.data.mmkg import EATask, ELTask, LPTask
from mtaimkg_jax.data.tasks import KINDS, TaskKind
from mtaimkg_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class TaskSpec:
  task: str
  dataset: str
  weight: float

  @property
  def kind(self) -> TaskKind:
    return KINDS[self.task]


def parse_tasks(tasks: Sequence, key: str = 'tasks') -> list[TaskSpec]:
  """`[(task, dataset, weight), ...]` → validated `TaskSpec`s."""
  if not tasks:
    raise ConfigError(key, 'needs at least one (task, dataset, weight)')
  specs = []
  for i, entry in enumerate(tasks):
    if not isinstance(entry, (list, tuple)) or len(entry) != 3:
      raise ConfigError(f'{key}[{i}]', f'expected (task, dataset, weight), '
                        f'got {entry!r}')
    task, dataset, weight = entry
    if task not in KINDS:
      raise ConfigError(f'{key}[{i}]', f'unknown task {task!r}; one of '
                        f'{sorted(KINDS)}')
    if not isinstance(dataset, str) or not dataset.startswith(f'{task}/'):
      raise ConfigError(f'{key}[{i}]', f'dataset {dataset!r} must be a path '
                        f'under the data root starting with "{task}/"')
    if (not isinstance(weight, (int, float)) or isinstance(weight, bool) or
        not weight >= 0 or weight == float('inf')):
      raise ConfigError(f'{key}[{i}]', f'weight must be a finite number ≥ 0, '
                        f'got {weight!r}')
    specs.append(TaskSpec(task, dataset, float(weight)))
  keys = [s.dataset for s in specs]
  if len(set(keys)) != len(keys):
    raise ConfigError(key, f'a dataset appears twice: {keys}')
  return specs


def synthetic_spec(config: ml_collections.ConfigDict,
                   dataset: str = '') -> synthetic.SyntheticSpec:
  """`config.data.synthetic`, then the options a dataset name gives after
  `@` (`'lp/synthetic@seed=3,text_signal=0'`: graphs that differ, in one
  run)."""
  overrides = dict(config.data.get('synthetic', {}))
  fields = {f.name: f.type for f in dataclasses.fields(synthetic.SyntheticSpec)}
  for name in overrides:
    if name not in fields:
      raise ConfigError(f'data.synthetic.{name}', 'unknown synthetic option; '
                        f'one of {sorted(fields)}')
  options = dataset.partition('@')[2]
  for item in filter(None, options.split(',')):
    name, _, text = item.partition('=')
    if name not in fields:
      raise ConfigError('tasks', f'{dataset!r}: unknown synthetic option '
                        f'{name!r}; one of {sorted(fields)}')
    try:
      overrides[name] = (int(text) if fields[name] in (int, 'int') else
                         float(text))
    except ValueError:
      raise ConfigError('tasks', f'{dataset!r}: {name}={text!r} is not a '
                        'number') from None
  return synthetic.SyntheticSpec(**overrides)


def is_synthetic(dataset: str) -> bool:
  return dataset.split('/', 1)[1].partition('@')[0] == 'synthetic'


def load_task(config: ml_collections.ConfigDict,
              spec: TaskSpec) -> LPTask | EATask | ELTask:
  """One dataset as a task container (no features unified yet)."""
  name = spec.dataset.rstrip('/')
  if is_synthetic(name):
    task = synthetic.make_synthetic(synthetic_spec(config, name))[
        name.partition('@')[0]]
    return dataclasses.replace(task, key=name)
  root = config.data.root
  if not root or not os.path.isdir(root):
    raise ConfigError('data.root', f'data root {root!r} is not a directory')
  return spec.kind.load(root, name, config)


def load_graph(config: ml_collections.ConfigDict,
               spec: TaskSpec) -> QueryGraph:
  """One dataset's query graph: loaded, checked, built, featurized, with
  its graph evidence."""
  task = load_task(config, spec)
  counts = hygiene.counts(task)
  hygiene.enforce({spec.dataset: counts}, config.data.strict)
  files = hygiene.file_coverage(task)
  hygiene.enforce_coverage(files, config.data.strict)
  graph = featurize.from_config(config, spec.kind.build(task))
  rows, mean = evidence.of_graph(graph)
  with_value = {m: int(f.present[:graph.num_nodes].sum())
                for m, f in graph.features.items()}
  coverage = {'nodes': graph.num_nodes, 'with_value': with_value,
              'files': files}
  graph = dataclasses.replace(graph, hygiene={**counts, 'coverage': coverage},
                              evidence=rows, evidence_mean=mean)
  logging.info('%s: %d nodes, %d edges (with inverses), %d relations, '
               'queries %s, nodes with features %s', graph.key,
               graph.num_nodes, graph.num_edges, graph.num_relations,
               {s: len(q) for s, q in graph.queries.items()},
               {m: f'{n}/{graph.num_nodes}' for m, n in with_value.items()})
  return graph


def load_graphs(config: ml_collections.ConfigDict,
                tasks: Sequence[TaskSpec] | None = None
                ) -> list[tuple[TaskSpec, QueryGraph]]:
  """All task graphs of `config.tasks` (or `tasks`), features unified."""
  specs = list(tasks) if tasks is not None else parse_tasks(config.tasks)
  return [(spec, load_graph(config, spec)) for spec in specs]
