"""The routing evaluator: mean routing weights per task and per dataset.

Writes `routing.json` ({task: {representation: weight}}, each task's
weights summing to 1), `routing_by_dataset.json` and `routing.png`.
Weights count once per ranked answer, as the ranks do.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from mtaimkg_jax import checkpoint


def write(workdir: str, routing: dict[str, tuple[str, np.ndarray]],
          names: tuple[str, ...]) -> None:
  """`routing`: {dataset: (task, mean weights)}; `names`: the model's
  routed representations."""
  by_dataset = {key: dict(zip(names, map(float, w)))
                for key, (_, w) in routing.items()}
  by_task: dict[str, list[np.ndarray]] = {}
  for task, w in routing.values():
    by_task.setdefault(task, []).append(w)
  tasks = {task: dict(zip(names, map(float, np.mean(ws, axis=0))))
           for task, ws in by_task.items()}
  for name, content in (('routing.json', tasks),
                        ('routing_by_dataset.json', by_dataset)):
    checkpoint.write_json(os.path.join(workdir, name), content)
  plot(os.path.join(workdir, 'routing.png'), tasks, by_dataset)


def plot(path: str, by_task: dict[str, dict[str, float]],
         by_dataset: dict[str, dict[str, float]]) -> None:
  """Two panels of grouped bars: weights per task, then per dataset."""
  panels = [('per task', by_task), ('per dataset', by_dataset)]
  fig, axes = plt.subplots(1, 2, figsize=(12, 4), squeeze=False)
  for ax, (title, table) in zip(axes[0], panels):
    names = list(table)
    modalities = list(next(iter(table.values()))) if table else []
    width = 0.8 / max(len(modalities), 1)
    x = np.arange(len(names))
    for i, modality in enumerate(modalities):
      ax.bar(x + i * width, [table[n][modality] for n in names], width,
             label=modality)
    ax.set_xticks(x + width * (len(modalities) - 1) / 2)
    ax.set_xticklabels(names, rotation=20, ha='right', fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel('mean routing weight')
    ax.set_title(f'Modality routing {title}')
  if by_task:
    axes[0][0].legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
