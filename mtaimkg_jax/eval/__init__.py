"""Evaluation: one evaluator per concern (big_vision's pattern).

- `ranking`: filtered ranks of every query of a split on the device, each
  kept with its query's id, resumable after a kill or preemption.
- `matching`: ranks after one-to-one matching of a whole split (EA).
- `calibration`: the scale of the learned logit terms over the names
  prior, chosen on held-out queries (EA, EL).
- `routing`: the routing weights per task and dataset, and their plot.
- `baselines`: the parameter-free floors on the same queries.
- `results`: metrics, their breakdown by direction and relation, and
  `results.json`.
- `runner`: runs them for every evaluated dataset of an experiment.
"""
