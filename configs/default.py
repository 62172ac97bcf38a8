"""The embedded default: all three tasks on the synthetic MMKG.

Command:
  python -m mtaimkg_jax.main --config configs/default.py --workdir /tmp/mtaimkg_default

Result (800 steps, ~3 min on 2 CPU cores): <workdir>/results.json with
MRR lp/synthetic 0.465, ea/synthetic 0.716, el/synthetic 0.760 (the
parameter-free baselines, --config.model.name=baseline --mode=eval: 0.052,
0.142, 0.553), and routing.png: LP weighs the candidate's text most (0.62),
EA and EL the text cross term (0.90, 0.75).
"""

from mtaimkg_jax import config_base


def get_config():
  config = config_base.base_config()
  config.tasks = (('lp', 'lp/synthetic', 1.0), ('ea', 'ea/synthetic', 1.0),
                  ('el', 'el/synthetic', 1.0))
  config.train.num_steps = 800
  config.train.log_every = 100
  return config
