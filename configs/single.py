r"""One task on one real dataset (the single-task rows of the results).

  python -m mtaimkg_jax.main --config configs/single.py:task=el,dataset=el/RichpediaMEL \
    --workdir /tmp/single_el
  python -m mtaimkg_jax.main --config configs/single.py:task=lp,dataset=lp/DB15K,steps=800 ...

Arguments: task (lp | ea | el), dataset (a path under data.root), steps
(default 800, the mixture's budget).
Results: see benchmarks/RESULTS.md (each row names its command).
"""

from configs import presets


def get_config(arg: str = 'task=lp,dataset=lp/MKG-W'):
  options = presets.parse_args(
      arg, {'task': 'lp', 'dataset': 'lp/MKG-W', 'steps': '800'})
  return presets.single_task_config(options['task'], options['dataset'],
                                        int(options['steps']))
