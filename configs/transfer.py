r"""Zero-shot evaluation of a trained checkpoint on any dataset.

By default the checkpoint is the one this repository ships,
`checkpoints/mtaimkg_mixture` (configs/mixture.py, seed 0, trained on LP
DB15K and the GraIL v1 graphs + EA DBP15K zh_en + EL RichpediaMEL from
ULTRA's 3g weights), so a
graph of your own is ranked with one command and no training;
`--config.init_workdir` takes any other run of configs/mixture.py or
configs/single.py instead. The model is the checkpoint's own (its
config.json). Writes <workdir>/results.json with the key of the dataset.

  python -m mtaimkg_jax.main --config configs/transfer.py:task=lp,dataset=lp/MKG-Y \
    --mode=eval --workdir /tmp/transfer_mkgy

Result (4.7 min on 2 CPU cores): lp/MKG-Y test MRR 0.372; other
datasets: benchmarks/RESULTS.md, runs `mixture_native_merges_on_*`. The merged
backbone reads ULTRA's weights (model.init_checkpoint, ../shared beside
the project); `--config.model.backbone_merges="(1.0,)"` needs none.
"""

from configs import presets


def get_config(arg: str = 'task=lp,dataset=lp/MKG-Y'):
  options = presets.parse_args(arg, {'task': 'lp', 'dataset': 'lp/MKG-Y'})
  # The model and its features are the checkpoint's own (its config.json).
  config = presets.real_data_config()
  config.tasks = ((options['task'], options['dataset'], 1.0),)
  config.train.num_steps = 0
  config.init_workdir = presets.SHIPPED_CHECKPOINT
  return config
