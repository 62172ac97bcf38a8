r"""Single-task: MKG-Y (transductive LP).

The mixture's model and budget on this dataset alone (the same config as
`configs/single.py:task=lp,dataset=lp/MKG-Y`):

  python -m mtaimkg_jax.main --config configs/lp_mkgy.py --workdir /tmp/lp_mkgy

Result: benchmarks/RESULTS.md, row "MtaIMKG single-task" of
`lp/MKG-Y` (run `single_lp_MKG-Y` of benchmarks/quality.py).
"""

from configs import presets


def get_config(arg: str = ''):
  steps = presets.parse_args(arg, {'steps': '800'})['steps']
  return presets.single_task_config('lp', 'lp/MKG-Y', int(steps))
