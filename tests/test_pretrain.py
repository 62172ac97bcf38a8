"""configs/pretrain.py: LP pre-training on several graphs runs end to end
(the GraIL v1 mixture, tiny settings) and is evaluated zero-shot on the
held-out inductive graphs."""

import json
import os

from configs import pretrain
from mtaimkg_jax import train


def test_multi_graph_lp_pretraining_end_to_end(data_root, tmp_path):
  config = pretrain.get_config('steps=6,graphs=grail')
  config.data.root = data_root
  # Tiny dims, so no ULTRA weights fit: from scratch.
  config.model.update(dict(init_checkpoint='', dim=16, num_layers=2,
                           remat=False))
  config.train.update(dict(batch_size=8, num_negatives=16, log_every=2,
                           checkpoint_every=6))
  config.features.k = 16
  config.eval.max_queries = 64
  results = train.train_and_evaluate(config, str(tmp_path))
  assert set(results) == {f'lp/grail/{g}_v1_ind'
                          for g in ('fb237', 'WN18RR', 'nell')}
  assert all(r['count'] == 64 for r in results.values())
  # Every training graph took steps: the mixture is a mixture.
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  events = event_accumulator.EventAccumulator(str(tmp_path / 'tensorboard'))
  events.Reload()
  trained = {tag.split('/')[3] for tag in events.Tags()['scalars']
             if tag.startswith('train/lp/grail/') and tag.endswith('/loss')}
  assert trained == {'fb237_v1', 'WN18RR_v1', 'nell_v1'}
  with open(os.path.join(tmp_path, 'config.json')) as f:
    assert len(json.load(f)['tasks']) == 3
