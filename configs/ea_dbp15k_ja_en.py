r"""Single-task: DBP15K ja_en entity alignment, 30% seeds.

The mixture's model and budget on this dataset alone (the same config as
`configs/single.py:task=ea,dataset=ea/DBP15K/ja_en`):

  python -m mtaimkg_jax.main --config configs/ea_dbp15k_ja_en.py --workdir /tmp/ea_dbp15k_ja_en

Result: benchmarks/RESULTS.md, row "MtaIMKG single-task" of
`ea/DBP15K/ja_en` (run `single_ea_ja_en` of benchmarks/quality.py).
"""

from configs import presets


def get_config(arg: str = ''):
  steps = presets.parse_args(arg, {'steps': '800'})['steps']
  return presets.single_task_config('ea', 'ea/DBP15K/ja_en', int(steps))
