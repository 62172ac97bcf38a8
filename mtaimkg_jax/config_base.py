"""The config schema: every key the project reads, with its default.

Experiment presets live in `configs/` and state only what they change;
`--config.<key>=...` overrides any key; `config_check.validate` checks the
values once, before any work starts.
"""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  """Every key the project reads, with its default."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  # (task, dataset, weight): datasets are paths under data.root, or
  # '<task>/synthetic' for the generated default.
  config.tasks = (('lp', 'lp/synthetic', 1.0),)

  config.data = ml_collections.ConfigDict()
  config.data.root = '../shared/data'
  config.data.cache_dir = ''  # '' → $MTAIMKG_CACHE or ~/.cache/mtaimkg_jax
  # Generator options (data/synthetic.py SyntheticSpec); seed picks the graph.
  config.data.synthetic = ml_collections.ConfigDict({'seed': 0})
  # True: suspicious but legal data (split overlaps, duplicates; see
  # data/hygiene.py) is an error instead of a counted warning.
  config.data.strict = False

  config.features = ml_collections.ConfigDict()
  config.features.k = 32
  config.features.text_encoder = 'minilm'
  # 'pca' (centre, PCA, sign, scale) or 'none' (ablation; features.py).
  config.features.unification = 'pca'
  # Derived views added as modalities of their own (data/views.py), e.g.
  # ('neighbours',); () is text, image and structure alone
  # (configs/mixture.py adds all three views).
  config.features.views = ()
  # The tasks whose graphs get each view: e.g. surface=('ea', 'el') keeps
  # name trigrams out of LP, whose zero-shot transfer they hurt.
  config.features.view_tasks = ml_collections.ConfigDict(
      {view: ('lp', 'ea', 'el')
       for view in ('neighbours', 'surface', 'anchors')})

  config.ea = ml_collections.ConfigDict()
  config.ea.train_ratio = 0.3
  config.ea.candidates = 'test'
  # Share of the seed pairs held out of training as validation queries
  # (real EA datasets; the test split does not change). They choose the
  # scale of the learned terms when eval.calibrate_learned_scale is set.
  config.ea.valid_fraction = 0.0

  config.el = ml_collections.ConfigDict()
  # Share of the training mentions held out as validation queries (EL
  # datasets without valid.json), as ea.valid_fraction.
  config.el.valid_fraction = 0.0

  config.padding = ml_collections.ConfigDict()
  config.padding.budgets = ()  # () → automatic buckets; else dicts of sizes

  config.model = ml_collections.ConfigDict()
  # 'mtaimkg' (the full model) or 'ultra' (structure only); the
  # parameter-free floors are `--mode=baseline` (eval.baseline).
  config.model.name = 'mtaimkg'
  config.model.dim = 64
  config.model.num_layers = 6
  config.model.task_dim = 16
  # False: the per-task base weights of the logit terms only, no router
  # (ablation).
  config.model.routing = True
  config.model.num_experts = 4  # 1: no mixture (ablation)
  config.model.expert_hidden = 64
  config.model.top_k = 0  # 0: dense softmax gate
  # Width of the MLP that turns each edge's similarities into its gates.
  config.model.gate_hidden = 16
  # Width of the router's MLP from the graph's evidence (how well each
  # term ranks the graph's own facts, data/evidence.py) to the term
  # weights; 0: no evidence (the router of checkpoints made before it).
  config.model.evidence_hidden = 0
  # Ablation at evaluation, no parameter changes: 'modalities' (the
  # backbone alone), 'edge_gates' or 'modality_terms' (one path of the
  # modalities) and/or modality names, e.g. "('text',)".
  config.model.without = ()
  config.model.remat = False
  config.model.chunk_size = 8192  # candidates scored per chunk in ranking
  # The names prior: the initial weight of the query terms (the names'
  # cosine) in EA/EL logits, learned per task and modality (models/
  # terms.py); 0 starts every task without it. Also the unit of what the
  # graph's evidence adds to a term's weight.
  config.model.names_prior = 10.0
  # Reference queries (training seeds) a one-to-one task's (EA) learned
  # terms are centred on, so that a score a candidate gets whatever the
  # query cannot rank it; at ranking only (training ignores it); 0: not
  # centred (configs/mixture.py: 1).
  config.model.num_references = 0
  config.model.init_checkpoint = ''  # ULTRA .pth or Orbax params directory
  config.model.freeze_backbone = False

  config.train = ml_collections.ConfigDict()
  config.train.num_steps = 1000
  config.train.batch_size = 16
  config.train.num_negatives = 64
  config.train.num_hard_negatives = 8  # EA/EL: nearest by features
  config.train.learning_rate = 5e-4
  # The backbone's learning rate as a fraction of learning_rate (< 1 keeps
  # it near its initial, e.g. ULTRA, weights; model.freeze_backbone: 0).
  config.train.backbone_lr_scale = 1.0
  config.train.warmup_steps = 50
  config.train.final_lr_fraction = 0.05
  config.train.weight_decay = 0.01
  config.train.grad_clip = 1.0
  config.train.adversarial_temperature = 1.0
  config.train.contrastive_loss = 'bce'  # EA/EL: 'bce' or 'infonce'
  config.train.contrastive_temperature = 1.0
  config.train.balance_weight = 0.01
  config.train.log_every = 50
  config.train.checkpoint_every = 200
  config.train.keep_checkpoints = 3
  config.train.stop_at_step = -1  # > 0: save and stop there (resumable)
  config.init_workdir = ''  # eval/transfer: take this run's checkpoint

  config.eval = ml_collections.ConfigDict()
  config.eval.batch_size = 16
  config.eval.split = 'test'
  # Exact score ties: 'realistic' (half count against the answer),
  # 'pessimistic' (ULTRA: all), 'optimistic' (none). See metrics.py.
  config.eval.ties = 'realistic'
  config.eval.tasks = ()  # () → the training tasks
  # > 0: rank a fixed, seeded subset of this many queries of the split
  # (the same subset for every model: quick comparisons while iterating).
  config.eval.max_queries = 0
  # Metrics also broken down by 'direction' (LP: head / tail prediction)
  # and 'relation' (per query relation), under each dataset's results.
  config.eval.breakdown = ('direction',)
  # Ranks so far are saved this often, so a killed evaluation resumes.
  config.eval.save_every_seconds = 60.0
  # EA only, > 0: also rank after one-to-one matching (log-domain Sinkhorn
  # of test-query x candidate scores / temperature), reported under the key
  # '<dataset>:sinkhorn' next to the plain ranking. 0 = off.
  config.eval.sinkhorn_temperature = 0.0
  config.eval.sinkhorn_iterations = 20
  # EA and EL: also rank test with the learned terms (MoE head + structure
  # score) scaled by the factor that ranks the held-out queries best (needs
  # ea/el.valid_fraction > 0; results key '<dataset>:calibrated').
  config.eval.calibrate_learned_scale = False
  # Fewer held-out queries than this cannot choose the scale (its MRR
  # differences would be noise): an error, not a guess.
  config.eval.calibration_min_queries = 100
  # --mode=baseline: the parameter-free floor to rank with
  # (eval/baselines.py); '' is each task kind's own (LP: relation
  # frequency; EA, EL: the names' cosine).
  config.eval.baseline = ''
  return config
