r"""Command line: flags → train / eval / predict.

  python -m mtaimkg_jax.main --config configs/default.py --workdir /tmp/run
  python -m mtaimkg_jax.main --config configs/default.py --workdir /tmp/run \
      --mode=predict --query 'tovak_3|rel_2|?'

`--config.<key>=value` overrides any config key; `--config file.py:arg`
passes `arg` to the file's `get_config`.
"""

from __future__ import annotations

import sys

if __name__ == '__main__':
  from mtaimkg_jax import runtime  # pylint: disable=g-import-not-at-top
  runtime.reexec_with_huge_page_malloc(['-m', 'mtaimkg_jax.main',
                                        *sys.argv[1:]])

import json
import logging as std_logging

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

import jax

from mtaimkg_jax import parallel, train
from mtaimkg_jax.errors import MtaimkgError

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py).',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None,
                               'Directory for checkpoints, logs and results.')
_MODE = flags.DEFINE_enum('mode', 'train', ['train', 'eval', 'predict'],
                          'train: train then evaluate; eval: evaluate the '
                          'latest (or initial) checkpoint; predict: answer '
                          '--query with names.')
_QUERY = flags.DEFINE_string(
    'query', None, "predict: 'head|relation|?' (LP), an entity name or id "
    '(EA), or a mention sentence (EL).')
_TASK = flags.DEFINE_string('task', None,
                            'predict: which dataset of config.tasks to ask '
                            '(default: the first).')
_TOP_K = flags.DEFINE_integer('top_k', 10, 'predict: answers to show.')
_DISTRIBUTED = flags.DEFINE_bool(
    'distributed', False, 'Initialise JAX multi-process with cluster '
    'auto-detection (Cloud TPU pods, SLURM).')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', '', 'host:port of process 0 for an explicit '
    'multi-process run (see launch/local.sh).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', 1,
                                      'Processes of an explicit run.')
_PROCESS_ID = flags.DEFINE_integer('process_id', 0,
                                   'This process in an explicit run.')


class _QuietLibraries(std_logging.Filter):
  """Keeps library chatter (Orbax logs every save step by step) out of INFO."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return (record.levelno >= std_logging.WARNING or
            '/orbax/' not in record.pathname)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.get_absl_handler().addFilter(_QuietLibraries())
  if _DISTRIBUTED.value or _COORDINATOR.value:
    parallel.initialize_distributed(_COORDINATOR.value, _NUM_PROCESSES.value,
                                    _PROCESS_ID.value)
  if jax.process_index() != 0:
    logging.set_verbosity(logging.WARNING)  # process 0 logs the run
  config = _CONFIG.value
  try:
    if _MODE.value == 'train':
      train.train_and_evaluate(config, _WORKDIR.value)
    elif _MODE.value == 'eval':
      train.evaluate(config, _WORKDIR.value)
    else:
      answers = train.predict(config, _WORKDIR.value, _QUERY.value,
                              task=_TASK.value, top_k=_TOP_K.value)
      print(json.dumps(answers, indent=2, ensure_ascii=False))
  except MtaimkgError as e:
    logging.error('%s', e)
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main)
