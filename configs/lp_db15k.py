r"""Single-task: DB15K (transductive LP; also the source graph of the IndMKG zero-shot rows).

The mixture's model and budget on this dataset alone (the same config as
`configs/single.py:task=lp,dataset=lp/DB15K`):

  python -m mtaimkg_jax.main --config configs/lp_db15k.py --workdir /tmp/lp_db15k

Result: benchmarks/RESULTS.md, row "MtaIMKG single-task" of
`lp/DB15K` (run `single_lp_DB15K` of benchmarks/quality.py).
"""

from configs import presets


def get_config(arg: str = ''):
  steps = presets.parse_args(arg, {'steps': '800'})['steps']
  return presets.single_task_config('lp', 'lp/DB15K', int(steps))
