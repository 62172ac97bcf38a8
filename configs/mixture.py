r"""The real shared mixture: one checkpoint for LP + EA + EL.

LP on lp/DB15K (so lp/MKG-W and lp/MKG-Y stay unseen for zero-shot
transfer, IndMKG's protocol), EA on ea/DBP15K/zh_en with 30% seeds
(ja_en stays unseen), EL on el/RichpediaMEL; ULTRA-initialised backbone,
MiniLM text features, the neighbours, anchors and surface views (surface
on EA and EL only), EA's learned terms centred on one reference query
when ranking (training ignores it). 800 steps of batch 8 (the default,
the same budget as configs/single.py).

  python -m mtaimkg_jax.main --config configs/mixture.py --workdir /tmp/mixture

Result (mean ± half the range of seeds 0 and 1, `--config.seed=1`; 78–95
min on a 2-core CPU with the three test rankings): ea/DBP15K/zh_en H@1
0.843 ± 0.000, el/RichpediaMEL H@1 0.952 ± 0.000, lp/DB15K MRR 0.362 ±
0.006; zero-shot ea/DBP15K/ja_en H@1 0.904 ± 0.000, lp/MKG-W MRR 0.328 ±
0.002, lp/MKG-Y MRR 0.320 ± 0.010.
"""

from configs import presets


def get_config(arg: str = ''):
  options = presets.parse_args(arg, {'steps': '800'})
  return presets.mixture_config(int(options['steps']))
