r"""Single-task: FB15K-DB15K entity alignment, 20% seeds.

The mixture's model and budget on this dataset alone (the same config as
`configs/single.py:task=ea,dataset=ea/FB15K-DB15K`):

  python -m mtaimkg_jax.main --config configs/ea_fb15k_db15k.py --workdir /tmp/ea_fb15k_db15k

Result: benchmarks/RESULTS.md, row "MtaIMKG single-task" of
`ea/FB15K-DB15K` (run `single_ea_FB15K-DB15K` of benchmarks/quality.py).
"""

from configs import presets


def get_config(arg: str = ''):
  steps = presets.parse_args(arg, {'steps': '800'})['steps']
  return presets.single_task_config('ea', 'ea/FB15K-DB15K', int(steps))
