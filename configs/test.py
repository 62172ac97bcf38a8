"""CPU-size config for tests: tiny synthetic graphs, all three tasks.

Command:
  python -m mtaimkg_jax.main --config configs/test.py --workdir /tmp/mtaimkg_test
"""

from mtaimkg_jax import config_base


def get_config():
  config = config_base.base_config()
  config.tasks = [('lp', 'lp/synthetic', 1.0), ('ea', 'ea/synthetic', 1.0),
                  ('el', 'el/synthetic', 1.0)]
  config.data.synthetic.num_entities = 120
  config.data.synthetic.num_mentions = 80
  config.features.k = 16
  config.eval.batch_size = 8
  return config
