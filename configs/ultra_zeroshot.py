r"""ULTRA (structure only) on GraIL inductive splits: train on `lp/grail/<X>`,
evaluate zero-shot on `lp/grail/<X>_ind` (ULTRA's protocol: fact graph =
`<X>_ind/train.txt`, queries = `valid.txt` + `test.txt`, both directions,
filtered by every known triple of the inductive graph).

Released checkpoint, zero-shot (no training):
  python -m mtaimkg_jax.main --config configs/ultra_zeroshot.py:dataset=fb237_v1 \
    --config.data.root=../shared/data \
    --config.model.init_checkpoint=../shared/checkpoints/ultra/ultra_3g.pth \
    --mode=eval --workdir /tmp/ultra_fb237_v1

Result: results.json "lp/grail/fb237_v1_ind" MRR 0.4869 / Hits@1 0.3893 /
Hits@10 0.6569 (822 ranks, ties count half; with
--config.eval.ties=pessimistic, ULTRA's rule, ULTRA's own 0.4863).

From scratch with ULTRA's recipe (strict negatives, self-adversarial BCE,
query edges removed, AdamW), then zero-shot on the _ind split:
  python -m mtaimkg_jax.main --config configs/ultra_zeroshot.py:dataset=fb237_v1 \
    --config.data.root=../shared/data --workdir /tmp/ultra_scratch
"""

from configs import presets
from mtaimkg_jax import config_base


def get_config(arg: str = 'dataset=fb237_v1'):
  dataset = presets.parse_args(arg, {'dataset': 'fb237_v1'})['dataset']
  config = config_base.base_config()
  config.model.name = 'ultra'
  config.tasks = (('lp', f'lp/grail/{dataset}', 1.0),)
  config.eval.tasks = (('lp', f'lp/grail/{dataset}_ind', 1.0),)
  config.train.num_steps = 2000
  config.train.batch_size = 16
  config.train.num_negatives = 256
  config.train.warmup_steps = 0
  config.train.final_lr_fraction = 1.0  # ULTRA: constant learning rate
  config.train.grad_clip = 1e9  # ULTRA does not clip
  config.train.balance_weight = 0.0
  return config
