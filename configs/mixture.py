r"""The real shared mixture: one checkpoint for LP + EA + EL.

LP on lp/DB15K (so lp/MKG-W and lp/MKG-Y stay unseen for zero-shot
transfer, IndMKG's protocol), EA on ea/DBP15K/zh_en with 30% seeds
(ja_en stays unseen), EL on el/RichpediaMEL; ULTRA-initialised backbone,
MiniLM text features, the neighbours, anchors and surface views (surface
on EA and EL only), EA's learned terms centred on one reference query
when ranking (training ignores it).

  python -m mtaimkg_jax.main --config configs/mixture.py --workdir /tmp/mixture

800 steps of batch 8 (the default, the same budget as configs/single.py):
on a 2-core CPU, 40–49 min of training (3.0–3.7 s/step) and 37–42 min of
ranking the three full test sets, so 78–95 min in all: over the 60-minute
row budget of the results tables.
Result (mean ± half the range of seeds 0 and 1, `--config.seed=1`):
lp/DB15K MRR 0.362 ± 0.006, ea/DBP15K/zh_en H@1 0.843 ± 0.000 (0.877 ±
0.008 one-to-one), el/RichpediaMEL H@1 0.952 ± 0.000; zero-shot
ea/DBP15K/ja_en H@1 0.904 ± 0.000, ea/FB15K-DB15K 0.975 ± 0.003,
lp/MKG-W MRR 0.328 ± 0.002, lp/MKG-Y 0.320 ± 0.010; every command in
benchmarks/RESULTS.md. The default until
2026-12-02 (no views, not centred) is this config with
`--config.features.views="()" --config.model.num_references=0
--config.features.view_tasks.surface="('lp','ea','el')"`.
"""

from configs import presets


def get_config(arg: str = ''):
  options = presets.parse_args(arg, {'steps': '800'})
  return presets.mixture_config(int(options['steps']))
