r"""Command line: flags → train / eval / predict.

  python -m mtaimkg_jax.main --config configs/default.py --workdir /tmp/run
  python -m mtaimkg_jax.main --config configs/default.py --workdir /tmp/run \
      --mode=predict --task lp/synthetic --query 'e3|rel_2|?'

`--config.<key>=value` overrides any config key; `--config file.py:arg`
passes `arg` to the file's `get_config`. Evaluation and prediction rebuild
the model a checkpoint's run saved in its config.json; only what the
command line overrides changes.
"""

from __future__ import annotations

import sys

if __name__ == '__main__':
  from mtaimkg_jax import runtime  # pylint: disable=g-import-not-at-top
  runtime.reexec_with_huge_page_malloc(['-m', 'mtaimkg_jax.main',
                                        *sys.argv[1:]])

import errno
import logging as std_logging

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

import jax

from mtaimkg_jax import api, flag_checks, parallel, train
from mtaimkg_jax.data import formats
from mtaimkg_jax.errors import ConfigError, MtaimkgError
from mtaimkg_jax.eval import runner

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Experiment config file (configs/*.py).',
    lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None,
                               'Directory for checkpoints, logs and results.')
_MODE = flags.DEFINE_enum('mode', 'train',
                          ['train', 'eval', 'predict', 'baseline'],
                          'train: train then evaluate; eval: evaluate the '
                          'latest (or initial) checkpoint; predict: answer '
                          '--query / --queries with names; baseline: rank '
                          'with a parameter-free floor (eval.baseline).')
_QUERY = flags.DEFINE_string(
    'query', None, "predict: 'head|relation|?' or '?|relation|tail' (LP), "
    'an entity name or id of graph 1 (EA), or a mention sentence (EL).')
_QUERIES = flags.DEFINE_string(
    'queries', None, 'predict: a file of queries, one a line; the answers '
    'go to stdout as TSV (query, rank, name, id, score, known).')
_TASK = flags.DEFINE_string('task', None,
                            'predict: the dataset (or task kind) to ask '
                            '(default: the first evaluated dataset).')
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
  """Keeps library chatter out of INFO: Orbax logs every save step by step,
  JAX every accelerator backend this machine lacks. Orbax's warnings and
  errors keep their one line but not the tracebacks of its background
  threads: a failed save is reported once, naming its path
  (`checkpoint.Checkpoints`)."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    library = any(part in record.pathname
                  for part in ('/orbax/', 'xla_bridge'))
    if library and record.exc_info:
      record.exc_info, record.exc_text = None, None
    return record.levelno >= std_logging.WARNING or not library


def _queries() -> list[tuple[str, str]]:
  """(where, query) of `--query` and each line of `--queries`."""
  if _QUERIES.value:
    return [(f'{_QUERIES.value}:{i}', line.strip())
            for i, line in formats.read_lines(_QUERIES.value)]
  if not _QUERY.value:
    raise ConfigError('query', 'predict needs --query or --queries')
  return [('--query', _QUERY.value)]


def _predict(config, overridden) -> None:
  queries = _queries()
  predictor = api.Predictor.from_config(config, _WORKDIR.value, overridden)
  for where, query in queries:  # every query checked before the model loads
    try:
      predictor.parse(query, _TASK.value)
    except ConfigError as e:
      raise ConfigError(e.key, f'{where}: {e.reason}') from None
  for where, query in queries:
    answers = predictor.predict(query, _TASK.value, _TOP_K.value)
    if _QUERIES.value:
      for a in answers:
        print('\t'.join([query, str(a['rank']), a['name'], a['id'],
                         f'{a["score"]:.4f}', str(a['known']).lower()]))
    else:
      print(api.table(query, answers))


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
  overridden = tuple(
      config_flags.get_override_values(flags.FLAGS['config']))
  try:
    given = [name for name in flag_checks.PREDICT_FLAGS
             if flags.FLAGS[name].present]
    flag_checks.check_flags(_MODE.value, given, config)
    if _MODE.value == 'train':
      train.train_and_evaluate(config, _WORKDIR.value)
    elif _MODE.value == 'eval':
      runner.evaluate_checkpoint(config, _WORKDIR.value, overridden)
    elif _MODE.value == 'baseline':
      runner.rank_baselines(config, _WORKDIR.value)
    else:
      _predict(config, overridden)
  except MtaimkgError as e:
    _fail(str(e))
  except OSError as e:
    if e.errno not in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
      raise
    _fail(f'cannot write {e.filename or "the workdir"}: {e.strerror}')


def _fail(message: str) -> None:
  logging.error('%s', message)
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with a config file that does not load or an
  override of a key the config lacks reported in one line (exit status 2)
  instead of a traceback."""
  try:
    rest = flags.FLAGS(argv)
    if flags.FLAGS.config is not None:
      flags.FLAGS.config.keys()  # a config file that did not load raises
    return rest
  except (KeyError, AttributeError) as e:
    lines = str(e.args[0] if e.args else e).strip('"').splitlines()
    key, hint = lines[0].strip("'"), ' '.join(lines[1:])
    given = [arg.split('=')[0] for arg in argv
             if arg.startswith('--config.') and key in arg.split('=')[0]]
    message = (f'{given[0] if given else "--config." + key}: no such config '
               f'key{" (" + hint + ")" if hint else ""}; '
               'docs/configuration.md lists them')
  except OSError as e:
    message = f'--config: {str(e).splitlines()[-1].strip()}'
  except flags.Error as e:
    message = str(e)
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main, flags_parser=parse_flags)
