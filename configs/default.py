"""The embedded default: all three tasks on the synthetic MMKG.

Command:
  python -m mtaimkg_jax.main --config configs/default.py --workdir /tmp/mtaimkg_default

Result (800 steps, ~4 min on 2 CPU cores): <workdir>/results.json with
MRR lp/synthetic 0.441, ea/synthetic 0.656, el/synthetic 0.645 (the
parameter-free baselines, --config.model.name=baseline --mode=eval: 0.052,
0.142, 0.553), and routing.png: LP weighs structure most (0.58), EA and EL
the text cross term (0.78, 0.92).
"""

from mtaimkg_jax import config_base


def get_config():
  config = config_base.base_config()
  config.tasks = (('lp', 'lp/synthetic', 1.0), ('ea', 'ea/synthetic', 1.0),
                  ('el', 'el/synthetic', 1.0))
  config.train.num_steps = 800
  config.train.log_every = 100
  return config
