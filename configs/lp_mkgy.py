r"""Single-task: MKG-Y (transductive LP).

The mixture's model and budget on this dataset alone (the same config as
`configs/single.py:task=lp,dataset=lp/MKG-Y`):

  python -m mtaimkg_jax.main --config configs/lp_mkgy.py --workdir /tmp/lp_mkgy

Result: the README's results tables, row "MtaIMKG single-task" of
`lp/MKG-Y` (run `single_lp_MKG-Y` of benchmarks/quality.py).
"""

from mtaimkg_jax import config_base


def get_config(arg: str = ''):
  steps = config_base.parse_args(arg, {'steps': '800'})['steps']
  return config_base.single_task_config('lp', 'lp/MKG-Y', int(steps))
