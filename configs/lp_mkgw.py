r"""Single-task: MKG-W (transductive LP).

The mixture's model and budget on this dataset alone (the same config as
`configs/single.py:task=lp,dataset=lp/MKG-W`):

  python -m mtaimkg_jax.main --config configs/lp_mkgw.py --workdir /tmp/lp_mkgw

Result: benchmarks/RESULTS.md, row "MtaIMKG single-task" of
`lp/MKG-W` (run `single_lp_MKG-W` of benchmarks/quality.py).
"""

from configs import presets


def get_config(arg: str = ''):
  steps = presets.parse_args(arg, {'steps': '800'})['steps']
  return presets.single_task_config('lp', 'lp/MKG-W', int(steps))
