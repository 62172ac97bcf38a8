"""The routing picture: mean modality weights per task and per dataset."""

from __future__ import annotations

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def routing_plot(path: str, by_task: dict[str, dict[str, float]],
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
