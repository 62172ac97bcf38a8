"""The embedded default: all three tasks on the synthetic MMKG.

Command:
  python -m mtaimkg_jax.main --config configs/default.py --workdir /tmp/mtaimkg_default

Result: <workdir>/results.json with lp/synthetic, ea/synthetic, el/synthetic.
"""

from mtaimkg_jax import config_base


def get_config():
  config = config_base.base_config()
  config.tasks = (('lp', 'lp/synthetic', 1.0), ('ea', 'ea/synthetic', 1.0),
                  ('el', 'el/synthetic', 1.0))
  config.train.num_steps = 800
  config.train.log_every = 100
  return config
