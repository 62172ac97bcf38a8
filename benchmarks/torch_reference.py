"""An independent PyTorch entity GNN (ULTRA's EntityNBFNet computation) for
side-by-side timing: batch-major `[B, N, D]` states as ULTRA keeps them,
messages gathered per edge and summed with `index_add_` (ULTRA's generic
non-fused path; its rspmm kernel is a CUDA/C++ extension not built here).
Weights come from the project's Flax params, so outputs can be compared
before anything is timed. Installed by the `bench` extra.
"""

from __future__ import annotations

import numpy as np
import torch


class EntityGNN(torch.nn.Module):
  """Entity GNN layers + score MLP, parameters copied from Flax."""

  def __init__(self, entity_params: dict, mlp_params: dict, num_layers: int):
    super().__init__()

    def linear(p):
      layer = torch.nn.Linear(*np.asarray(p['kernel']).shape)
      with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.asarray(p['kernel']).T.copy()))
        layer.bias.copy_(torch.from_numpy(np.asarray(p['bias']).copy()))
      return layer

    self.linears = torch.nn.ModuleList()
    self.norms = torch.nn.ModuleList()
    self.projections = torch.nn.ModuleList()
    for i in range(num_layers):
      conv = entity_params[f'layer_{i}']
      self.linears.append(linear(conv['linear']))
      norm = torch.nn.LayerNorm(conv['layer_norm']['scale'].shape[0])
      with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(np.asarray(
            conv['layer_norm']['scale']).copy()))
        norm.bias.copy_(torch.from_numpy(np.asarray(
            conv['layer_norm']['bias']).copy()))
      self.norms.append(norm)
      projection = entity_params[f'relation_projection_{i}']
      self.projections.append(torch.nn.Sequential(
          linear(projection['dense_0']), torch.nn.ReLU(),
          linear(projection['dense_1'])))
    self.mlp = torch.nn.Sequential(linear(mlp_params['dense_0']),
                                   torch.nn.ReLU(),
                                   linear(mlp_params['dense_1']))

  def states(self, relations: torch.Tensor, heads: torch.Tensor,
             query_relations: torch.Tensor, edge_index: torch.Tensor,
             edge_type: torch.Tensor, num_nodes: int):
    """relations: [B, R, D]; edge_index[0] aggregates edge_index[1]."""
    batch = heads.shape[0]
    query = relations[torch.arange(batch), query_relations]
    boundary = torch.zeros(batch, num_nodes, query.shape[-1])
    boundary[torch.arange(batch), heads] = query
    h = boundary
    receivers, senders = edge_index
    for linear, norm, projection in zip(self.linears, self.norms,
                                        self.projections):
      relation = projection(relations)  # [B, R, D]
      messages = h[:, senders] * relation[:, edge_type]
      aggregate = torch.zeros_like(h).index_add_(1, receivers, messages)
      aggregate = aggregate + boundary
      out = torch.relu(norm(linear(torch.cat([h, aggregate], -1))))
      h = out + h
    return h, query

  def scores(self, h: torch.Tensor, query: torch.Tensor,
             candidates: torch.Tensor) -> torch.Tensor:
    index = candidates.unsqueeze(-1).expand(-1, -1, h.shape[-1])
    feature = h.gather(1, index)
    feature = torch.cat([feature, query.unsqueeze(1).expand_as(feature)], -1)
    return self.mlp(feature).squeeze(-1)


def self_adversarial_bce(logits: torch.Tensor,
                         temperature: float = 1.0) -> torch.Tensor:
  """ULTRA's loss: column 0 is the positive."""
  target = torch.zeros_like(logits)
  target[:, 0] = 1
  loss = torch.nn.functional.binary_cross_entropy_with_logits(
      logits, target, reduction='none')
  weight = torch.ones_like(logits)
  with torch.no_grad():
    weight[:, 1:] = torch.softmax(logits[:, 1:] / temperature, dim=-1)
  return ((loss * weight).sum(-1) / weight.sum(-1)).mean()
