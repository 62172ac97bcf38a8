"""CPU-size config for tests: tiny synthetic graphs, all three tasks, a tiny
model; trains in seconds (compilation dominates).

Command:
  python -m mtaimkg_jax.main --config configs/test.py --workdir /tmp/mtaimkg_test

Result: results.json with lp/synthetic, ea/synthetic and el/synthetic (tiny
budget: the numbers only show the pipeline runs).
"""

from mtaimkg_jax import config_base


def get_config():
  config = config_base.base_config()
  config.tasks = (('lp', 'lp/synthetic', 1.0), ('ea', 'ea/synthetic', 1.0),
                  ('el', 'el/synthetic', 1.0))
  config.data.synthetic.num_entities = 120
  config.data.synthetic.num_mentions = 80
  config.data.synthetic.num_types = 4
  config.features.k = 16
  config.model.dim = 16
  config.model.num_layers = 2
  config.model.task_dim = 8
  config.model.gate_hidden = 4
  config.model.num_experts = 2
  config.model.expert_hidden = 16
  config.model.chunk_size = 128
  config.train.num_steps = 12
  config.train.batch_size = 8
  config.train.num_negatives = 16
  config.train.num_hard_negatives = 2
  config.train.warmup_steps = 2
  config.train.log_every = 4
  config.train.checkpoint_every = 4
  config.eval.batch_size = 8
  # The synthetic graphs hold out a handful of EA/EL queries.
  config.eval.calibration_min_queries = 1
  return config
