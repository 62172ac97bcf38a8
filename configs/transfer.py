r"""Zero-shot evaluation of a trained checkpoint on any dataset.

The model settings are the mixture's, so `config.init_workdir` may be any
run of configs/mixture.py (or of configs/single.py):

  python -m mtaimkg_jax.main --config configs/transfer.py:task=lp,dataset=lp/MKG-Y \
    --config.init_workdir=/tmp/mixture --mode=eval --workdir /tmp/transfer_mkgy

Writes <workdir>/results.json with the key of the dataset.
"""

from configs import presets


def get_config(arg: str = 'task=lp,dataset=lp/MKG-Y'):
  options = presets.parse_args(arg, {'task': 'lp', 'dataset': 'lp/MKG-Y'})
  config = presets.mixture_config(steps=0)
  config.tasks = ((options['task'], options['dataset'], 1.0),)
  config.train.num_steps = 0
  return config
