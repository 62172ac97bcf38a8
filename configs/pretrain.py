r"""LP pre-training on several graphs, as ULTRA's 3g/4g checkpoints are made.

From `ultra_3g`, link prediction on FB15k-237, WN18RR++ and DB15K (text:
MiniLM of the entity names where a graph has them) and the three GraIL
v1 training graphs (no text), in one mixture; every other graph stays
unseen for zero-shot evaluation: the GraIL `_ind` graphs and MKG-W /
MKG-Y (choose anything on their valid splits; the `_ind` graphs have
test queries only). Arguments: steps (default 2000), graphs (`real`, the
six above, or `grail`, the three GraIL v1 graphs alone: the CPU-size run
`tests/test_pretrain.py` runs end to end).

  python -m mtaimkg_jax.main --config configs/pretrain.py:steps=800 \
    --config.eval.tasks="(('lp','lp/MKG-W',1.0),('lp','lp/MKG-Y',1.0))" \
    --config.eval.split=valid --config.eval.max_queries=2000 \
    --workdir workdir/pretrain

Result (68 min on 2 CPU cores): MKG-W / MKG-Y valid MRR 0.320 / 0.326, its
backbone alone 0.321 / 0.326, ULTRA 3g 0.336 / 0.325: the modalities add
nothing (docs/experiments/2026-12-02-multi-graph-lp-pretraining.md).
"""

from configs import presets

REAL = (('lp', 'lp/FB15k-237', 1.0), ('lp', 'lp/WN18RR++', 1.0),
        ('lp', 'lp/DB15K', 1.0))
GRAIL = tuple(('lp', f'lp/grail/{name}_v1', 1.0)
              for name in ('fb237', 'WN18RR', 'nell'))
HELD_OUT = tuple(('lp', f'lp/grail/{name}_v1_ind', 1.0)
                 for name in ('fb237', 'WN18RR', 'nell'))


def get_config(arg: str = ''):
  options = presets.parse_args(arg, {'steps': '2000', 'graphs': 'real'})
  if options['graphs'] not in ('real', 'grail'):
    raise ValueError(f"graphs must be 'real' or 'grail', got "
                     f"{options['graphs']!r}")
  config = presets.real_data_config()
  config.tasks = (REAL if options['graphs'] == 'real' else ()) + GRAIL
  config.train.num_steps = int(options['steps'])
  config.train.num_negatives = 256  # ULTRA's
  config.eval.tasks = HELD_OUT + ((
      ('lp', 'lp/MKG-W', 1.0), ('lp', 'lp/MKG-Y', 1.0))
                                  if options['graphs'] == 'real' else ())
  config.eval.split = 'test'
  return config
