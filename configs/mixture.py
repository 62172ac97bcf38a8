r"""The real shared mixture: one checkpoint for LP + EA + EL.

LP on lp/DB15K and the GraIL v1 graphs WN18RR_v1, fb237_v1 and nell_v1
with their text (so lp/MKG-W and lp/MKG-Y stay unseen for zero-shot
transfer), EA on ea/DBP15K/zh_en with 30% seeds (ja_en stays unseen), EL
on el/RichpediaMEL (a tenth of its training mentions held out as its
valid split); ULTRA-initialised backbone at a tenth of the learning rate,
MiniLM text features, the neighbours, anchors and surface views (surface
on EA and EL only) and, on EA, the names in their own language
(multilingual-e5-small), the router reading each graph's evidence and LP
rankings the fact gate (which also chooses, per graph, the trained
backbone or its half-way merge with ULTRA's), EA's learned terms centred
on one reference query when ranking. 800 steps of batch 8.

  python -m mtaimkg_jax.main --config configs/mixture.py --workdir /tmp/mixture

Result (seed 0, the shipped checkpoint; 37–41 min of training steps on a
2-core CPU, then ranking its test sets: DB15K 17 min, zh_en and EL 24
min):
ea/DBP15K/zh_en H@1 0.8725, el/RichpediaMEL H@1 0.955; with
configs/transfer.py, zero-shot ea/DBP15K/ja_en H@1 0.927, lp/MKG-W MRR
0.345 and lp/MKG-Y MRR 0.372 (benchmarks/RESULTS.md, runs
mixture_native*).
"""

from configs import presets


def get_config(arg: str = ''):
  options = presets.parse_args(arg, {'steps': '800'})
  return presets.mixture_config(int(options['steps']))
