r"""Single-task: DBP15K zh_en entity alignment, 30% seeds.

The mixture's model and budget on this dataset alone (the same config as
`configs/single.py:task=ea,dataset=ea/DBP15K/zh_en`):

  python -m mtaimkg_jax.main --config configs/ea_dbp15k_zh_en.py --workdir /tmp/ea_dbp15k_zh_en

Result: benchmarks/RESULTS.md, row "MtaIMKG single-task" of
`ea/DBP15K/zh_en` (run `single_ea_zh_en` of benchmarks/quality.py).
"""

from configs import presets


def get_config(arg: str = ''):
  steps = presets.parse_args(arg, {'steps': '800'})['steps']
  return presets.single_task_config('ea', 'ea/DBP15K/zh_en', int(steps))
