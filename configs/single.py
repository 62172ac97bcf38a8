r"""One task on one real dataset (the single-task rows of the results).

Arguments: task (lp | ea | el), dataset (a path under data.root), steps
(default 800, the mixture's budget); the EA seed ratio is the one results
are reported with (20% for FB15K-DB15K, else 30%).

  python -m mtaimkg_jax.main --config configs/single.py:task=lp,dataset=lp/MKG-Y,steps=800 \
    --workdir /tmp/single_lp_mkgy

Result (1,215 s on 2 CPU cores): lp/MKG-Y test MRR 0.388 / H@1 0.350 /
H@10 0.457; other datasets: benchmarks/RESULTS.md.
"""

from configs import presets


def get_config(arg: str = 'task=lp,dataset=lp/MKG-W'):
  options = presets.parse_args(
      arg, {'task': 'lp', 'dataset': 'lp/MKG-W', 'steps': '800'})
  return presets.single_task_config(options['task'], options['dataset'],
                                        int(options['steps']))
