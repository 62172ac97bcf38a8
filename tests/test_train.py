"""The training system end to end on configs/test.py: sharding, resumption,
checkpoints, a checkpoint's config, outputs."""
# Tests reach into private helpers on purpose.
# pylint: disable=protected-access

import json
import os
import pathlib
import shutil
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

from configs import test as test_config
from mtaimkg_jax import (checkpoint, metrics, parallel, records, steps,
                         summary, train)
from mtaimkg_jax.data import loading, padding
from mtaimkg_jax.data.batches import (answers_per_row, eval_batches,
                                      pad_queries)
from mtaimkg_jax.errors import ConfigError, InputErrors, TrainingError
from mtaimkg_jax.eval import matching, runner
from mtaimkg_jax.experiment import Experiment, resolve_init


def _config(**overrides):
  config = test_config.get_config()
  for key, value in overrides.items():
    section, name = key.split('.')
    config[section][name] = value
  return config


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """One uninterrupted run of configs/test.py, and the datasets whose graph
  it built (each time)."""
  workdir = str(tmp_path_factory.mktemp('full'))
  built = []
  load = loading.load_graph

  def counting(config, spec):
    built.append(spec.dataset)
    return load(config, spec)

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(loading, 'load_graph', counting)
    results = train.train_and_evaluate(_config(), workdir)
  return workdir, results, built


def test_outputs_of_a_run(trained):
  workdir, results, _ = trained
  assert set(results) == {'lp/synthetic', 'ea/synthetic', 'el/synthetic'}
  with open(os.path.join(workdir, 'results.json')) as f:
    on_disk = json.load(f)
  for key, values in on_disk.items():
    assert {'mrr', 'hits@1', 'hits@3', 'hits@10'} <= set(values)
    assert 0 < values['mrr'] <= 1
  with open(os.path.join(workdir, 'routing.json')) as f:
    routing = json.load(f)
  assert set(routing) == {'lp', 'ea', 'el'}
  for weights in routing.values():
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-5)
  assert os.path.getsize(os.path.join(workdir, 'routing.png')) > 1000
  assert checkpoint.Checkpoints(workdir, 1, 3).latest_step() == 12
  assert checkpoint.read_config(workdir) == _config()


def test_tensorboard_holds_train_and_eval_scalars(trained):
  """Read back with TensorBoard's own reader."""
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  workdir, results, _ = trained
  tags = set()
  for path in pathlib.Path(workdir, 'tensorboard').glob('events.out.*'):
    events = event_accumulator.EventAccumulator(str(path))
    events.Reload()
    tags |= set(events.Tags()['scalars'])
  assert {'train/learning_rate', 'train/steps_per_second',
          'train/lp/synthetic/loss', 'eval/lp/synthetic/mrr',
          'eval/el/synthetic/hits@1'} <= tags


def test_results_break_down_by_direction_and_keep_query_ids(trained):
  workdir, results, _ = trained
  lp = results['lp/synthetic']
  directions = lp['by_direction']
  assert directions['head']['count'] + directions['tail']['count'] == (
      lp['count'])
  assert 'by_direction' not in results['ea/synthetic']
  saved = np.load(os.path.join(workdir, 'eval', 'lp_synthetic.test.npz'))
  assert sorted(saved['query_ids']) == list(range(lp['count']))


def test_graphs_are_built_once_per_run(trained):
  _, _, built = trained
  assert sorted(built) == ['ea/synthetic', 'el/synthetic', 'lp/synthetic']


def test_another_configs_workdir_is_refused_and_its_checkpoint_kept(
    trained, tmp_path):
  """A run on a workdir of another model fails naming the keys, before it
  writes anything; the old run's checkpoint stays."""
  workdir = str(tmp_path / 'run')
  shutil.copytree(trained[0], workdir)
  before = sorted(os.listdir(os.path.join(workdir, 'checkpoints')))
  other = _config(**{'model.num_experts': 3})
  with pytest.raises(ConfigError, match=r'model\.num_experts: 2 in the run, '
                     r'3 here'):
    train.train_and_evaluate(other, workdir)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == before
  assert checkpoint.read_config(workdir).model.num_experts == 2
  # Without the run's config.json, the saved parameter shapes tell.
  os.remove(os.path.join(workdir, checkpoint.CONFIG_FILE))
  with pytest.raises(ConfigError, match='other parameter shapes'):
    train.train_and_evaluate(other, workdir)
  assert sorted(os.listdir(os.path.join(workdir, 'checkpoints'))) == before


def test_eval_rebuilds_the_model_of_the_checkpoints_run(trained, tmp_path):
  """Evaluation takes the model keys from the run's config.json (here a
  transfer config with other experts and views), except overridden ones."""
  full_dir, full, _ = trained
  config = _config(**{'model.num_experts': 3})
  config.features.views = ('surface',)
  config.init_workdir = full_dir
  assert runner.evaluate_checkpoint(config, str(tmp_path / 'a')) == full
  with pytest.raises(ConfigError, match='other parameter shapes'):
    runner.evaluate_checkpoint(config, str(tmp_path / 'b'),
                               overridden=('model.num_experts',))


def test_a_save_that_did_not_reach_disk_is_an_error(tmp_path):
  ckpts = checkpoint.Checkpoints(str(tmp_path), save_every=10, keep=3)
  state = {'w': np.zeros(3, np.float32)}
  ckpts.save(10, state, {'step': 10})
  ckpts.confirm_saved(10)
  assert not ckpts.save(11, state, {'step': 11})  # off the interval: skipped
  with pytest.raises(TrainingError, match=r'step 11 did not reach .*'
                     r'checkpoints \(steps on disk: \[10\]\)'):
    ckpts.confirm_saved(11)
  ckpts.close()


class _SignalMidStep:
  """A preemption whose SIGTERM lands between the flag's 3rd and 4th reads.
  Were the flag read twice in a step, a step could be left unforced by
  the first read yet confirmed by the second (a CI failure)."""

  def __init__(self):
    self.reads = 0

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    pass

  @property
  def requested(self):
    self.reads += 1
    return self.reads >= 4


def test_a_sigterm_at_any_point_of_a_step_saves_that_step(tmp_path,
                                                           monkeypatch):
  monkeypatch.setattr(checkpoint, 'Preemption', _SignalMidStep)
  workdir = str(tmp_path)
  with pytest.raises(SystemExit) as exit_info:
    train.train_and_evaluate(_config(**{'train.checkpoint_every': 100}),
                             workdir)
  assert exit_info.value.code == 143
  # One read a step: the flag is first seen on at step 4, which is saved
  # though it is off the interval.
  assert checkpoint.Checkpoints(workdir, 1, 3).latest_step() == 4


def test_stop_and_resume_equals_uninterrupted(trained, tmp_path):
  full_dir, full, _ = trained
  workdir = str(tmp_path)
  assert train.train_and_evaluate(_config(**{'train.stop_at_step': 5}),
                                  workdir) == {}
  assert checkpoint.Checkpoints(workdir, 1, 3).latest_step() == 5
  resumed = train.train_and_evaluate(_config(), workdir)
  assert resumed == full
  params = [
      _latest_params(d) for d in (full_dir, workdir)
  ]
  for a, b in zip(jax.tree_util.tree_leaves(params[0]),
                  jax.tree_util.tree_leaves(params[1])):
    np.testing.assert_array_equal(a, b)


def test_a_finished_run_resumed_with_another_ranking_key_ranks_again(
    trained, tmp_path):
  """Training ignores `model.num_references`, so a finished run resumed with
  another value trains no step and ranks as an evaluation of its checkpoint
  with that value would; its config.json then says the new value."""
  full_dir, full, _ = trained
  workdir = str(tmp_path / 'run')
  shutil.copytree(full_dir, workdir)
  centred = _config(**{'model.num_references': 1})
  resumed = train.train_and_evaluate(centred, workdir)
  assert checkpoint.Checkpoints(workdir, 1, 3).latest_step() == 12
  assert checkpoint.read_config(workdir).model.num_references == 1
  centred.init_workdir = full_dir
  assert resumed == runner.evaluate_checkpoint(
      centred, str(tmp_path / 'e'), overridden=('model.num_references',))
  assert resumed['lp/synthetic'] == full['lp/synthetic']
  assert resumed['ea/synthetic'] != full['ea/synthetic']


def _latest_params(workdir):
  config = _config()
  return jax.device_get(Experiment(config).params_of(
      resolve_init(config, workdir)))


def _fail_if_called(*args, **kwargs):
  raise AssertionError('graphs loaded before the checkpoint check')


def test_eval_mode_reproduces_results(trained, tmp_path):
  full_dir, full, _ = trained
  config = _config()
  config.init_workdir = full_dir
  assert runner.evaluate_checkpoint(config, str(tmp_path)) == full


def test_eval_of_a_fixed_subset_of_queries(trained, tmp_path):
  """`eval.max_queries` ranks the same seeded subset of each split."""
  full_dir, full, _ = trained
  config = _config(**{'eval.max_queries': 20})
  config.init_workdir = full_dir
  first = runner.evaluate_checkpoint(config, str(tmp_path / 'a'))
  assert first == runner.evaluate_checkpoint(config, str(tmp_path / 'b'))
  assert first['lp/synthetic']['count'] == 20
  assert first['el/synthetic'] == full['el/synthetic']  # 16 queries: all


def test_eval_without_a_readable_checkpoint_is_an_error(
    trained, tmp_path, monkeypatch):
  """Even with another model to fall back to, a missing or unreadable
  `init_workdir` checkpoint, or a workdir whose saved steps are all
  unreadable, stops the evaluation instead of scoring another model; a
  missing `init_workdir` one, or nothing to evaluate, stops it before any
  graph loads."""
  backbone = str(tmp_path / 'backbone')
  checkpoint.save_params(backbone, _latest_params(trained[0])['backbone'])
  config = _config()
  config.model.init_checkpoint = backbone
  config.init_workdir = str(tmp_path / 'unfinished_run')
  with monkeypatch.context() as patch:
    patch.setattr(loading, 'load_graph', _fail_if_called)
    with pytest.raises(ConfigError,
                       match='init_workdir.*no readable checkpoint'):
      runner.evaluate_checkpoint(config, str(tmp_path / 'transfer'))
  os.makedirs(tmp_path / 'unfinished_run' / 'checkpoints' / '5')
  with pytest.raises(ConfigError, match='init_workdir.*no readable checkpoint'):
    runner.evaluate_checkpoint(config, str(tmp_path / 'transfer'))
  config.init_workdir = trained[0]
  os.makedirs(tmp_path / 'corrupted_run' / 'checkpoints' / '7')
  with pytest.raises(ConfigError,
                     match='workdir.*corrupted_run.*no readable checkpoint'):
    runner.evaluate_checkpoint(config, str(tmp_path / 'corrupted_run'))
  config.init_workdir = ''
  with pytest.raises(ConfigError,
                     match='workdir.*corrupted_run.*no readable checkpoint'):
    runner.evaluate_checkpoint(config, str(tmp_path / 'corrupted_run'))
  assert set(runner.evaluate_checkpoint(config, str(tmp_path / 'backbone_only'))) == set(
      trained[1])
  config.model.init_checkpoint = ''
  with monkeypatch.context() as patch:
    patch.setattr(loading, 'load_graph', _fail_if_called)
    with pytest.raises(ConfigError, match='neither config.init_workdir nor'):
      runner.evaluate_checkpoint(config, str(tmp_path / 'nothing_to_evaluate'))


@pytest.mark.parametrize('sinkhorn', [0.0, 1.0])
def test_preempted_evaluation_resumes_and_matches(trained, tmp_path,
                                                 monkeypatch, sinkhorn):
  """SIGTERM in the middle of the evaluation saves the ranks so far (and
  with one-to-one matching, the EA scores); the rerun ranks only the rest
  and gives the uninterrupted results."""
  full_dir, full, _ = trained
  config = _config()
  config.init_workdir = full_dir
  config.eval.sinkhorn_temperature = sinkhorn
  expected = full
  if sinkhorn:
    # Matching adds the EA ranks after Sinkhorn and leaves the rest alone.
    expected = runner.evaluate_checkpoint(config, str(tmp_path / 'uninterrupted'))
    key = 'ea/synthetic' + records.ONE_TO_ONE
    assert expected[key]['count'] == full['ea/synthetic']['count']
    assert {k: v for k, v in expected.items() if k != key} == full
  config.eval.save_every_seconds = 1e9
  ranked = []
  progress = summary.progress

  def counting_progress(*args, **kwargs):
    bar = progress(*args, **kwargs)
    update = bar.update

    def counting_update(queries):
      ranked.append(queries)
      update(queries)
      if len(ranked) == 3 and interrupt:
        os.kill(os.getpid(), signal.SIGTERM)

    bar.update = counting_update
    return bar

  monkeypatch.setattr(summary, 'progress', counting_progress)
  interrupt = True
  with pytest.raises(SystemExit):
    runner.evaluate_checkpoint(config, str(tmp_path))
  assert not os.path.exists(tmp_path / 'results.json')
  first = sum(ranked)
  ranked.clear()
  interrupt = False
  assert runner.evaluate_checkpoint(config, str(tmp_path)) == expected
  assert sum(ranked) == sum(v['count'] for v in full.values()) - first
  ranked.clear()
  assert runner.evaluate_checkpoint(config, str(tmp_path)) == expected
  assert not ranked


def test_baseline_one_to_one_ranks_the_same_ea_queries(tmp_path):
  config = _config(**{'eval.sinkhorn_temperature': 0.05})
  results = runner.rank_baselines(config, str(tmp_path))
  matched = results.pop('ea/synthetic' + records.ONE_TO_ONE)
  assert matched['count'] == results['ea/synthetic']['count']
  assert matched != results['ea/synthetic']
  assert set(results) == {'lp/synthetic', 'ea/synthetic', 'el/synthetic'}


def _trainer(config, mesh):
  """(initial params, train state, step fns, EL sampler, EL graph arrays) of
  `config` on `mesh`, as train.train_and_evaluate sets them up."""
  experiment = Experiment(config, mesh)
  prepared = [experiment.prepare(spec) for spec in experiment.train_specs]
  params = experiment.init_params(prepared[0])
  state = experiment.state(params)
  fns = steps.make_steps(experiment.model, experiment.optimizer(params),
                         config, mesh)
  return params, state, fns, train.sampler(config, prepared[2]), (
      prepared[2].arrays)


def _train_step(config, mesh, fns, state, sampler, arrays, step):
  batch = parallel.device_batch(sampler.batch(step), mesh,
                                config.train.batch_size, ('edge_weight',))
  return fns.train(state, arrays, batch)


def test_sharded_step_equals_single_device():
  config = _config()
  results = {}
  for devices in (1, 8):
    mesh = Mesh(np.asarray(jax.devices()[:devices]), (parallel.DATA_AXIS,))
    _, state, fns, sampler, arrays = _trainer(config, mesh)
    state, scalars = _train_step(config, mesh, fns, state, sampler, arrays, 0)
    results[devices] = (jax.device_get(scalars), jax.device_get(state.params))
  np.testing.assert_allclose(results[1][0]['loss'], results[8][0]['loss'],
                             rtol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(results[1][1]),
                  jax.tree_util.tree_leaves(results[8][1])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_frozen_backbone_stays_as_loaded_and_the_rest_trains():
  config = _config(**{'model.freeze_backbone': True})
  mesh = parallel.make_mesh()
  params, state, fns, sampler, arrays = _trainer(config, mesh)
  for step in range(3):
    state, _ = _train_step(config, mesh, fns, state, sampler, arrays, step)
  after = jax.device_get(state.params)
  for a, b in zip(jax.tree_util.tree_leaves(params['backbone']),
                  jax.tree_util.tree_leaves(after['backbone'])):
    np.testing.assert_array_equal(a, b)
  moved = [not np.array_equal(a, b) for a, b in zip(
      jax.tree_util.tree_leaves(params['router']),
      jax.tree_util.tree_leaves(after['router']))]
  assert any(moved)


def test_eval_step_compiles_once_per_budget_candidates_and_answers():
  config = _config()
  experiment = Experiment(config)
  mesh, model = experiment.mesh, experiment.model
  prepared = [experiment.prepare(spec) for spec in experiment.train_specs]
  params = parallel.replicate(experiment.init_params(prepared[0]), mesh)
  fns = steps.make_steps(model, experiment.optimizer(params), config, mesh)
  all_nodes = jax.jit(
      lambda p, g, q: model.apply({'params': p}, g, q, method='rank').logits,
      in_shardings=(parallel.replicated(mesh), parallel.replicated(mesh),
                    parallel.sharded(mesh)))
  budgets = set()
  for item in prepared:
    index = padding.candidate_index(item.graph)
    budgets.add((item.budget, item.arrays.shared_condition.shape,
                 item.arrays.isolated_queries.shape, index.shape,
                 answers_per_row(item.graph, 'test')))
    for batch in eval_batches(item.graph, 'test', config.eval.batch_size,
                              item.budget):
      device = parallel.device_batch(batch, mesh, config.eval.batch_size)
      ranks, _, scores, terms = fns.eval(
          params, item.arrays, device, parallel.replicate(index, mesh),
          fns.graph_side(params, item.arrays))
      np.testing.assert_allclose(sum(terms.values()), scores, rtol=1e-5,
                                 atol=1e-5)
      # Scoring only the candidates ranks exactly as scoring every node
      # (on the same devices: per-device shapes decide float rounding).
      every_node = all_nodes(params, item.arrays, device.queries)
      nodes = item.arrays.entity.nodes
      expected = metrics.filtered_ranks(every_node, device.answers,
                                        device.exclude,
                                        nodes['candidate'] & nodes['real'])
      np.testing.assert_array_equal(ranks, expected)
  assert fns.eval._cache_size() == len(budgets)


def test_edgeless_el_queries_share_one_entity_gnn_run():
  """EL mentions have no edges, so one entity-GNN run serves a whole batch;
  logits and gradients equal running it per query (LP and EA do not)."""
  config = _config()
  experiment = Experiment(config)
  prepared = [experiment.prepare(spec) for spec in experiment.train_specs]
  flags = {p.graph.task: p.arrays.isolated_queries.shape for p in prepared}
  assert flags == {'lp': (0,), 'ea': (0,), 'el': (1,)}
  item = next(p for p in prepared if p.graph.task == 'el')
  model = experiment.model
  params = experiment.init_params(item)
  batch = train.sampler(config, item).batch(0)
  arrays = jax.tree_util.tree_map(np.asarray, item.arrays)
  per_query = arrays._replace(isolated_queries=np.zeros((0,), bool))

  def loss(params, graph):
    logits = model.apply({'params': params}, graph, batch.queries,
                         batch.candidates).logits
    return jnp.sum(jnp.where(batch.candidate_valid, logits, 0) ** 2)

  shared_loss, shared_grads = jax.value_and_grad(loss)(params, arrays)
  alone_loss, alone_grads = jax.value_and_grad(loss)(params, per_query)
  np.testing.assert_allclose(shared_loss, alone_loss, rtol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves(shared_grads),
                  jax.tree_util.tree_leaves(alone_grads)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  index = jnp.asarray(padding.candidate_index(item.graph))
  queries = pad_queries(item.graph.queries['test'].take(np.arange(4)), 'el',
                        4)
  scores = [model.apply({'params': params}, g, queries, jnp.broadcast_to(
      index, (4, len(index)))).logits for g in (arrays, per_query)]
  np.testing.assert_allclose(scores[0], scores[1], rtol=1e-5, atol=1e-5)
  # The comparison can fail: on EA (queries with edges) the shortcut is wrong.
  ea = next(p for p in prepared if p.graph.task == 'ea')
  ea_arrays = jax.tree_util.tree_map(np.asarray, ea.arrays)
  ea_queries = pad_queries(ea.graph.queries['test'].take(np.arange(4)), 'ea',
                           4)
  forced, right = [model.apply({'params': params}, g, ea_queries, method='rank').logits
                   for g in (ea_arrays._replace(
                       isolated_queries=np.ones((1,), bool)), ea_arrays)]
  assert not np.allclose(forced, right, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize('key,value,match', [
    ('train.batch_size', 6, 'not divisible'),
    ('model.name', 'gpt', 'model.name'),
    ('train.num_negatives', 0, 'train.num_negatives'),
    ('features.k', -1, 'features.k'),
])
def test_bad_config_values_name_the_key(tmp_path, key, value, match):
  with pytest.raises(ConfigError, match=match):
    train.train_and_evaluate(_config(**{key: value}), str(tmp_path))


@pytest.mark.parametrize('key,value,error,match', [
    ('eval.split', 'dev', ConfigError, r"eval\.split: must be one of"),
    ('features.text_encoder', 'bert', ConfigError, 'features.text_encoder'),
    ('eval.tasks', (('lp', 'lp/nowhere', 1.0), ('el', 'el/nothing', 1.0)),
     InputErrors, r"2 problems:\n.*'lp/nowhere' not found.*\n.*'el/nothing'"),
    ('eval.split', 'valid', ConfigError, r"lp/mini_ind has no 'valid'"),
])
def test_what_evaluation_reads_fails_before_training(tmp_path, key, value,
                                                    error, match):
  """Problems evaluation would meet after training are found before the
  first step: nothing is trained or saved."""
  config = _config()
  config.data.root = str(tmp_path)
  if value == 'valid':  # an inductive graph: its queries are all 'test'
    graph = tmp_path / 'lp' / 'mini_ind'
    graph.mkdir(parents=True)
    for split in ('train', 'valid', 'test'):
      (graph / f'{split}.txt').write_text('a\tr\tb\nb\tr\tc\n')
    config.eval.tasks = (('lp', 'lp/mini_ind', 1.0),)
  section, name = key.split('.')
  config[section][name] = value
  workdir = tmp_path / 'run'
  with pytest.raises(error, match=match):
    train.train_and_evaluate(config, str(workdir))
  assert not checkpoint.has_saved_step(str(workdir))


def test_bad_task_entry_names_the_key(tmp_path):
  config = _config()
  config.tasks = (('lp', 'lp/synthetic', 1.0), ('xx', 'lp/synthetic', 1.0))
  with pytest.raises(ConfigError, match=r'tasks\[1\]'):
    train.train_and_evaluate(config, str(tmp_path))


def test_task_schedule_is_fixed_by_the_seed_and_follows_the_weights():
  schedule = train.task_schedule([1.0, 3.0], seed=0, num_steps=4000)
  np.testing.assert_array_equal(
      schedule, train.task_schedule([1.0, 3.0], seed=0, num_steps=4000))
  assert not np.array_equal(
      schedule, train.task_schedule([1.0, 3.0], seed=1, num_steps=4000))
  assert abs((schedule == 1).mean() - 0.75) < 0.03
  assert set(train.task_schedule([1.0, 0.0], 0, 50).tolist()) == {0}
