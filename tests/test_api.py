"""api.py and `--mode=predict`: a Predictor loads once and answers by name;
queries are checked before the model loads."""

import os
import subprocess
import sys

import numpy as np
import pytest

from configs import test as test_config
from conftest import PROJECT
from mtaimkg_jax import api, flag_checks, train, types
from mtaimkg_jax.data import loading
from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.experiment import Experiment


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('api'))
  config = test_config.get_config()
  config.train.num_steps = 4
  train.train_and_evaluate(config, workdir)
  return workdir


def _lp_query(predictor):
  graph = predictor.experiment.prepare(
      predictor.experiment.eval_specs[0]).graph
  test = graph.queries['test']
  return (f'{graph.node_names[test.nodes[0]]}|'
          f'{graph.relation_names[test.relations[0]]}|?')


def test_two_queries_after_one_load(workdir, monkeypatch):
  """The second query reloads no graph, restores nothing, compiles
  nothing and recomputes nothing of the graph that is query independent."""
  built, restored = [], []
  load, restore = loading.load_graph, Experiment.params_of
  monkeypatch.setattr(loading, 'load_graph',
                      lambda *a: built.append(a) or load(*a))
  monkeypatch.setattr(Experiment, 'params_of',
                      lambda *a: restored.append(a) or restore(*a))
  predictor = api.Predictor.from_workdir(workdir)
  query = _lp_query(predictor)
  first = predictor.predict(query, task='lp/synthetic', top_k=5)
  assert (len(built), len(restored)) == (1, 1)
  second = predictor.predict(query.replace('|?', '|?'), task='lp', top_k=5)
  other = predictor.predict('?|' + query.split('|')[1] + '|' +
                            query.split('|')[0], top_k=3)
  assert (len(built), len(restored)) == (1, 1)
  assert predictor._score._cache_size() == 1  # pylint: disable=protected-access
  sides = []
  side_of = predictor._graph_side  # pylint: disable=protected-access
  predictor._graph_side = lambda *a: sides.append(a) or side_of(*a)  # pylint: disable=protected-access
  predictor.predict(query, task='lp', top_k=5)
  assert not sides  # the graph side of lp/synthetic was kept
  assert first == second and len(other) == 3
  assert [a['rank'] for a in first] == [1, 2, 3, 4, 5]
  scores = [a['score'] for a in first]
  assert scores == sorted(scores, reverse=True)
  assert all(a['name'] and isinstance(a['known'], bool) for a in first)


def test_known_answers_are_marked(workdir):
  predictor = api.Predictor.from_workdir(workdir)
  graph = predictor.experiment.prepare(
      predictor.experiment.eval_specs[0]).graph
  train_queries = graph.queries['train']
  node, relation = train_queries.nodes[0], train_queries.relations[0]
  answers = predictor.predict(
      f'{graph.node_tokens[node]}|{relation}|?', top_k=graph.num_nodes)
  known = {a['id'] for a in answers if a['known']}
  assert graph.node_tokens[train_queries.answers[0]] in known


def test_names_it_accepts(workdir):
  predictor = api.Predictor.from_workdir(workdir)
  assert predictor.datasets() == ['lp/synthetic', 'ea/synthetic',
                                  'el/synthetic']
  relations = predictor.relations('lp/synthetic')
  assert 'rel_0' in relations and 'inverse of rel_0' in relations
  entities = predictor.entities('el')
  graph = predictor.experiment.graph(predictor._spec('el'))  # pylint: disable=protected-access
  mention_names = {graph.node_names[i] for i in
                   np.flatnonzero(graph.node_kind == types.MENTION)}
  assert entities and not set(entities) & mention_names
  with pytest.raises(ConfigError, match='unknown entity'):
    predictor.predict(f'no_such_thing|{relations[0]}|?')
  with pytest.raises(ConfigError, match='none of the datasets'):
    predictor.predict('x', task='lp/other')


def test_a_bad_query_fails_before_the_model_loads(workdir, monkeypatch):
  def fail(*_):
    raise AssertionError('the model loaded before the query was checked')

  monkeypatch.setattr(Experiment, 'params_of', fail)
  predictor = api.Predictor.from_workdir(workdir)
  with pytest.raises(ConfigError, match=r"'head\|relation\|\?'"):
    predictor.parse('e1|rel_0', 'lp/synthetic')
  with pytest.raises(ConfigError, match='unknown relation'):
    predictor.parse('e1|no_relation|?', 'lp/synthetic')


def _main(workdir, *args):
  env = dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS='')
  return subprocess.run(
      [sys.executable, '-m', 'mtaimkg_jax.main', '--config',
       'configs/test.py', '--workdir', workdir, '--mode=predict', *args],
      cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600,
      check=False)


def test_cli_prints_a_table_and_answers_a_file_as_tsv(workdir, tmp_path):
  predictor = api.Predictor.from_workdir(workdir)
  query = _lp_query(predictor)
  out = _main(workdir, '--query', query, '--top_k', '3')
  assert out.returncode == 0, out.stderr[-2000:]
  lines = out.stdout.strip().splitlines()
  assert lines[0] == query and lines[1].split() == ['rank', 'score',
                                                    'answer', 'id']
  assert [line.split()[0] for line in lines[2:5]] == ['1', '2', '3']
  queries = tmp_path / 'queries.txt'
  queries.write_text(f'{query}\n\n{query}\n')
  out = _main(workdir, '--queries', str(queries), '--top_k', '2')
  assert out.returncode == 0, out.stderr[-2000:]
  rows = [line.split('\t') for line in out.stdout.strip().splitlines()]
  assert len(rows) == 4 and all(len(r) == 6 and r[0] == query for r in rows)
  queries.write_text(f'{query}\nnot a query\n')
  out = _main(workdir, '--queries', str(queries))
  assert out.returncode == 2
  assert f'{queries}:2' in out.stderr and 'head|relation|?' in out.stderr


def test_arguments_that_mean_nothing_are_errors_naming_them(workdir,
                                                            monkeypatch):
  def fail(*_):
    raise AssertionError('the model loaded before the arguments were checked')

  monkeypatch.setattr(Experiment, 'params_of', fail)
  predictor = api.Predictor.from_workdir(workdir)
  query = _lp_query(predictor)
  with pytest.raises(ConfigError, match='config.query: must be a string, '
                     'got int 123'):
    predictor.predict(123)
  for top_k in ('5', -1, 0, True, 2.0):
    with pytest.raises(ConfigError, match=r'config.top_k: must be an integer '
                       f'≥ 1, got {top_k!r}'):
      predictor.predict(query, top_k=top_k)
  with pytest.raises(ConfigError, match=r"config.eval.taks: no such config "
                     r"key; did you mean \['eval.tasks'.*\n.*config.nonsense"):
    api.Predictor.from_workdir(workdir, {'eval.taks': (), 'nonsense': 1})
  with pytest.raises(ConfigError, match="config.train.batch_size: cannot take "
                     "'eight'"):
    api.Predictor.from_workdir(workdir, {'train.batch_size': 'eight'})


def test_command_line_flags_that_mean_nothing_are_errors(tmp_path):
  config = test_config.get_config()
  flag_checks.check_flags('predict', ['query', 'top_k'], config)
  for mode, given, match in (
      ('train', ['query'], 'config.query: --query: read by --mode=predict '
       'only, not --mode=train'),
      ('eval', ['queries', 'top_k'], 'config.queries: --queries, --top_k:'),
      ('predict', ['query', 'queries'], 'config.queries: give --query or '
       '--queries, not both')):
    with pytest.raises(ConfigError, match=match):
      flag_checks.check_flags(mode, given, config)
  config.init_workdir = str(tmp_path / 'nowhere')
  with pytest.raises(ConfigError, match=f"config.init_workdir: "
                     f"'{tmp_path}/nowhere' holds no readable checkpoint"):
    flag_checks.check_flags('train', [], config)
  out = subprocess.run(
      [sys.executable, '-m', 'mtaimkg_jax.main', '--config', 'configs/test.py',
       '--workdir', str(tmp_path / 'run'), '--query', 'e1|rel_0|?'],
      cwd=PROJECT, env=dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS=''),
      capture_output=True, text=True, timeout=600, check=False)
  assert out.returncode == 2
  assert 'error: config.query: --query: read by --mode=predict' in out.stderr
  assert 'Traceback' not in out.stderr and not (tmp_path / 'run').exists()


@pytest.mark.parametrize('args, message', [
    (('--config', 'configs/absent.py'),
     "error: --config: [Errno 2] No such file or directory: "
     "'configs/absent.py'"),
    (('--config', 'configs/test.py', '--config.model.nonsense=3'),
     'error: --config.model.nonsense: no such config key;'),
    (('--config', 'configs/test.py', '--config.modl.dim=3'),
     'error: --config.modl.dim: no such config key (Did you mean "model"'),
])
def test_a_config_that_cannot_load_is_one_line(tmp_path, args, message):
  out = subprocess.run(
      [sys.executable, '-m', 'mtaimkg_jax.main', *args,
       '--workdir', str(tmp_path / 'run')],
      cwd=PROJECT, env=dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS=''),
      capture_output=True, text=True, timeout=600, check=False)
  assert out.returncode == 2
  assert message in out.stderr and 'Traceback' not in out.stderr
  assert not (tmp_path / 'run').exists()
