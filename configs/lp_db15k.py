r"""Single-task: DB15K (transductive LP; also the source graph of the IndMKG zero-shot rows).

The mixture's model and budget on this dataset alone (the same config as
`configs/single.py:task=lp,dataset=lp/DB15K`):

  python -m mtaimkg_jax.main --config configs/lp_db15k.py --workdir /tmp/lp_db15k

Result: the README's results tables, row "MtaIMKG single-task" of
`lp/DB15K` (run `single_lp_DB15K` of benchmarks/quality.py).
"""

from mtaimkg_jax import config_base


def get_config(arg: str = ''):
  steps = config_base.parse_args(arg, {'steps': '800'})['steps']
  return config_base.single_task_config('lp', 'lp/DB15K', int(steps))
