"""configs/transfer.py runs the shipped mixture checkpoint zero-shot on a
graph it never saw, with no training and no checkpoint flag."""

import json
import pathlib

import pytest

from configs import mixture, transfer
from mtaimkg_jax import checkpoint, config_check, records
from mtaimkg_jax.errors import ConfigError
from mtaimkg_jax.eval import runner
from mtaimkg_jax.experiment import resolve_init

from conftest import PROJECT

# The parameters of checkpoints/mtaimkg_mixture (its fingerprint.json).
SHIPPED_FINGERPRINT = (
    'e78e3e5af35ee5bd198ceae5724848d56e9467f1d41c4adb6ea9ea6d4699a85a')
# MRR of 64 seeded test queries of lp/grail/WN18RR_v1_ind: the shipped
# checkpoint (`python -m mtaimkg_jax.main --config
# configs/transfer.py:task=lp,dataset=lp/grail/WN18RR_v1_ind
# --config.eval.max_queries=64 --mode=eval --workdir /tmp/pin`) and ULTRA
# 3g (the same with `--config.model.name=ultra
# --config.model.init_checkpoint=../shared/checkpoints/ultra/ultra_3g.pth`).
SHIPPED_MRR_ON_SUBSET = 0.6289
ULTRA_MRR_ON_SUBSET = 0.5694


def test_the_shipped_checkpoint_is_complete():
  shipped = pathlib.Path(transfer.get_config().init_workdir)
  assert shipped.parent == PROJECT / 'checkpoints'
  assert checkpoint.has_saved_step(str(shipped))
  saved = json.loads((shipped / 'config.json').read_text())
  assert {task for task, *_ in saved['tasks']} == {'lp', 'ea', 'el'}
  # It is the model and training of configs/mixture.py's default.
  assert not config_check.differences(
      checkpoint.read_config(str(shipped)), mixture.get_config(),
      config_check.RESUME_KEYS +
      ('train.num_steps',))
  # The ULTRA weights it was initialised from are MIT-licensed.
  assert 'MIT License' in (shipped / 'LICENSE.ultra').read_text()
  assert (shipped / 'README.md').exists()


def test_the_shipped_checkpoint_is_the_one_its_fingerprints_name():
  """Every saved array hashes as at save time, and the parameters are the
  ones the shipped fingerprint (and every record ranked with them) names."""
  shipped = pathlib.Path(transfer.get_config().init_workdir)
  saved = checkpoint.Checkpoints(str(shipped), 1, 1)
  step = saved.latest_step()
  recorded = json.loads((shipped / 'checkpoints' / str(step) /
                         checkpoint.FINGERPRINT_FILE).read_text())
  params = saved.latest_params()
  assert records.params_fingerprint(params) == recorded['params_fingerprint']
  assert recorded['params_fingerprint'] == SHIPPED_FINGERPRINT


def test_the_shipped_checkpoint_ranks_an_unseen_graph_above_ultra(
    data_root, tmp_path, monkeypatch):
  """On a fixed subset (64 seeded test queries of WN18RR_v1_ind, with
  its definitions) the shipped checkpoint ranks as when it was shipped,
  above what ULTRA 3g reaches on the same queries."""
  monkeypatch.chdir(tmp_path)  # the shipped checkpoint is found from anywhere
  config = transfer.get_config('task=lp,dataset=lp/grail/WN18RR_v1_ind')
  config.data.root = data_root
  config.eval.max_queries = 64
  results = runner.evaluate_checkpoint(config, str(tmp_path))
  found = results['lp/grail/WN18RR_v1_ind']
  assert found['count'] == 64
  assert found['mrr'] == pytest.approx(SHIPPED_MRR_ON_SUBSET, abs=0.005)
  assert SHIPPED_MRR_ON_SUBSET > ULTRA_MRR_ON_SUBSET + 0.02


def test_a_checkpoint_named_on_the_command_line_wins_over_the_default():
  """ULTRA rows (`--config.model.name=ultra --config.model.init_checkpoint=
  ...`) rank with ULTRA's weights, not the shipped mixture's."""
  config = transfer.get_config()
  config.model.init_checkpoint = 'ultra_3g.pth'
  ultra = resolve_init(config, None, ('model.name', 'model.init_checkpoint'))
  assert ultra.kind == 'init_checkpoint' and ultra.path == 'ultra_3g.pth'
  assert ultra.config.init_workdir == '' and config.init_workdir
  both = resolve_init(config, None, ('model.init_checkpoint',
                                     'init_workdir'))
  assert both.kind == 'init_workdir' and both.path == config.init_workdir
  assert resolve_init(config, None, ()).path == config.init_workdir


def test_resolve_init_decides_in_one_order(monkeypatch, tmp_path):
  """This workdir's checkpoint, then init_workdir's, then a backbone file,
  then scratch (training only); ranking nothing is an error."""
  saved = {str(tmp_path / 'own'), str(tmp_path / 'other')}
  monkeypatch.setattr(checkpoint, 'has_saved_step', lambda d: d in saved)
  config = transfer.get_config()
  config.init_workdir = str(tmp_path / 'other')
  config.model.init_checkpoint = 'ultra_3g.pth'
  assert resolve_init(config, str(tmp_path / 'own')).kind == 'workdir'
  assert resolve_init(config, str(tmp_path / 'new')).kind == 'init_workdir'
  config.init_workdir = ''
  assert resolve_init(config, None).kind == 'init_checkpoint'
  config.model.init_checkpoint = ''
  assert resolve_init(config, None, training=True).kind == 'scratch'
  with pytest.raises(ConfigError, match='init_workdir'):
    resolve_init(config, None)
  config.init_workdir = str(tmp_path / 'empty')
  with pytest.raises(ConfigError, match='no readable checkpoint'):
    resolve_init(config, None, training=True)


def test_the_log_names_the_saved_model_keys_the_run_had(caplog):
  """Ranking another run's checkpoint logs each model key it takes from
  that run: the run's value first, the command line's after."""
  config = transfer.get_config()
  with caplog.at_level('INFO'):
    resolve_init(config, None)
  saved = checkpoint.read_config(config.init_workdir)
  assert tuple(saved.features.views) != tuple(config.features.views)
  assert (f'features.views: {tuple(saved.features.views)!r} in the run, '
          f'{tuple(config.features.views)!r} here') in caplog.text
