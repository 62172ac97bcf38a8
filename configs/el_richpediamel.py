r"""Single-task: RichpediaMEL entity linking over all 17,805 KB entities.

The mixture's model and budget on this dataset alone (the same config as
`configs/single.py:task=el,dataset=el/RichpediaMEL`):

  python -m mtaimkg_jax.main --config configs/el_richpediamel.py --workdir /tmp/el_richpediamel

Result: the README's results tables, row "MtaIMKG single-task" of
`el/RichpediaMEL` (run `single_el_RichpediaMEL` of benchmarks/quality.py).
"""

from mtaimkg_jax import config_base


def get_config(arg: str = ''):
  steps = config_base.parse_args(arg, {'steps': '800'})['steps']
  return config_base.single_task_config('el', 'el/RichpediaMEL', int(steps))
