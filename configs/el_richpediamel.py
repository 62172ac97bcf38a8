r"""Single-task: RichpediaMEL entity linking over all 17,805 KB entities.

The mixture's model and budget on this dataset alone (the same config as
`configs/single.py:task=el,dataset=el/RichpediaMEL`):

  python -m mtaimkg_jax.main --config configs/el_richpediamel.py --workdir /tmp/el_richpediamel

Result: benchmarks/RESULTS.md, row "MtaIMKG single-task" of
`el/RichpediaMEL` (run `single_el_RichpediaMEL` of benchmarks/quality.py).
"""

from configs import presets


def get_config(arg: str = ''):
  steps = presets.parse_args(arg, {'steps': '800'})['steps']
  return presets.single_task_config('el', 'el/RichpediaMEL', int(steps))
