r"""The real shared mixture: one checkpoint for LP + EA + EL.

LP on lp/DB15K (so lp/MKG-W and lp/MKG-Y stay unseen for zero-shot
transfer, IndMKG's protocol), EA on ea/DBP15K/zh_en with 30% seeds
(ja_en stays unseen), EL on el/RichpediaMEL; ULTRA-initialised backbone,
MiniLM text features.

  python -m mtaimkg_jax.main --config configs/mixture.py --workdir /tmp/mixture

800 steps of batch 8 (the default, the same budget as configs/single.py)
keep a training row under the 60-minute CPU budget of the results tables:
on a 2-core CPU an EL step takes ~3 s. Evaluating every query of the full
test sets takes longer than training (every candidate goes through the
router and the experts).
Result: see benchmarks/RESULTS.md (each row names its command).
"""

from configs import presets


def get_config(arg: str = ''):
  options = presets.parse_args(arg, {'steps': '800'})
  return presets.mixture_config(int(options['steps']))
