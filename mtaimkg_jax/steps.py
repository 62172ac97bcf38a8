"""Losses, optimizer, and the jitted, sharded train and eval steps.

The train step is one `jax.jit` over a `Mesh`: queries and everything per
query are sharded along `data`, the graph and the train state replicated,
the state donated. It compiles once per padding budget.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import chex
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from mtaimkg_jax import metrics, parallel
from mtaimkg_jax.data.tasks import KINDS
from mtaimkg_jax.types import TASKS, EvalBatch, GraphArrays, TrainBatch


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any


def _masked_softmax(logits: jax.Array, mask: jax.Array) -> jax.Array:
  """Softmax over the last axis restricted to `mask` (all-False rows → 0)."""
  shifted = jnp.where(mask, logits, -jnp.inf)
  peak = jnp.max(shifted, axis=-1, keepdims=True)
  peak = jnp.where(jnp.isfinite(peak), peak, 0.0)
  weights = jnp.where(mask, jnp.exp(shifted - peak), 0.0)
  return weights / jnp.maximum(jnp.sum(weights, axis=-1, keepdims=True),
                               1e-30)


def self_adversarial_bce(logits: jax.Array, candidate_valid: jax.Array,
                         query_valid: jax.Array,
                         temperature: float) -> jax.Array:
  """ULTRA's loss: BCE of the positive (column 0) and of the negatives
  weighted by a softmax of their own (stopped) scores / temperature; the
  positive and the weighted negatives count half each."""
  chex.assert_rank(logits, 2)
  chex.assert_equal_shape([logits, candidate_valid])
  positive = jax.nn.softplus(-logits[:, 0])
  negatives = jax.nn.softplus(logits[:, 1:])
  mask = candidate_valid[:, 1:]
  if temperature > 0:
    weights = _masked_softmax(jax.lax.stop_gradient(logits[:, 1:]) /
                              temperature, mask)
  else:
    weights = mask / jnp.maximum(jnp.sum(mask, -1, keepdims=True), 1)
  has_negative = jnp.any(mask, axis=-1)
  per_query = (positive + jnp.sum(weights * negatives, -1)) / jnp.where(
      has_negative, 2.0, 1.0)
  return _masked_mean(per_query, query_valid)


def info_nce(logits: jax.Array, candidate_valid: jax.Array,
             query_valid: jax.Array, temperature: float) -> jax.Array:
  """Cross-entropy of the positive (column 0) among valid candidates."""
  scaled = jnp.where(candidate_valid, logits / max(temperature, 1e-6),
                     -jnp.inf)
  per_query = -jax.nn.log_softmax(scaled, axis=-1)[:, 0]
  return _masked_mean(per_query, query_valid)


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
  mask = mask.astype(values.dtype)
  return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def learning_rate(config: ml_collections.ConfigDict) -> optax.Schedule:
  """Warmup, then cosine decay to `final_lr_fraction` of the peak."""
  train = config.train
  warmup = min(train.warmup_steps, max(train.num_steps - 1, 0))
  if warmup:
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=train.learning_rate, warmup_steps=warmup,
        decay_steps=max(train.num_steps, warmup + 1),
        end_value=train.learning_rate * train.final_lr_fraction)
  return optax.cosine_decay_schedule(
      train.learning_rate, max(train.num_steps, 1),
      alpha=train.final_lr_fraction)


def make_optimizer(config: ml_collections.ConfigDict,
                   params: Any) -> optax.GradientTransformation:
  """AdamW on `learning_rate` with global-norm clipping; the backbone's
  updates scaled by `train.backbone_lr_scale`, or none when
  `config.model.freeze_backbone`."""
  train = config.train
  optimizer = optax.chain(
      optax.clip_by_global_norm(train.grad_clip),
      optax.adamw(learning_rate(config), weight_decay=train.weight_decay))
  backbone = flax.traverse_util.path_aware_map(
      lambda path, _: path[0] == 'backbone', params)
  if config.model.freeze_backbone:
    labels = jax.tree_util.tree_map(
        lambda b: 'frozen' if b else 'trained', backbone)
    return optax.multi_transform({'trained': optimizer,
                                  'frozen': optax.set_to_zero()}, labels)
  if train.backbone_lr_scale == 1.0:
    return optimizer
  return optax.chain(optimizer, optax.masked(
      optax.scale(train.backbone_lr_scale), backbone))


class StepFns(NamedTuple):
  train: Callable[[TrainState, GraphArrays, TrainBatch],
                  tuple[TrainState, dict]]
  # (params, graph) → the model's query-independent part of the graph,
  # computed once per graph for ranking.
  graph_side: Callable[[Any, GraphArrays], Any]
  eval: Callable[[Any, GraphArrays, EvalBatch, jax.Array, Any],
                 tuple[jax.Array, jax.Array, jax.Array, dict]]


def make_steps(model: nn.Module, optimizer: optax.GradientTransformation,
               config: ml_collections.ConfigDict, mesh: Mesh) -> StepFns:
  """The jitted, sharded train and eval steps."""
  train = config.train
  contrastive = {'bce': self_adversarial_bce,
                 'infonce': info_nce}[train.contrastive_loss]
  replicated = parallel.replicated(mesh)
  sharded = parallel.sharded(mesh)

  def loss_fn(params, graph: GraphArrays, batch: TrainBatch):
    queries = batch.queries
    token_mask = batch.candidate_valid & queries.valid[:, None]
    output = model.apply({'params': params}, graph, queries,
                         batch.candidates, batch.edge_weight, token_mask)
    # A batch holds queries of one task; its kind names the loss.
    adversarial = jnp.asarray([KINDS[t].loss == 'adversarial'
                               for t in TASKS])[queries.task[0]]
    task_loss = jax.lax.cond(
        adversarial,
        lambda: self_adversarial_bce(output.logits, batch.candidate_valid,
                                     queries.valid,
                                     train.adversarial_temperature),
        lambda: contrastive(output.logits, batch.candidate_valid,
                            queries.valid, train.contrastive_temperature))
    loss = task_loss + train.balance_weight * output.balance_loss
    return loss, {'loss': loss, 'task_loss': task_loss,
                  'balance_loss': output.balance_loss}

  def train_step(state: TrainState, graph: GraphArrays, batch: TrainBatch):
    grads, scalars = jax.grad(loss_fn, has_aux=True)(state.params, graph,
                                                     batch)
    updates, opt_state = optimizer.update(grads, state.opt_state,
                                          state.params)
    params = optax.apply_updates(state.params, updates)
    scalars['grad_norm'] = optax.tree.norm(grads)
    # 1.0 when the loss and every new parameter are finite: the loop stops
    # before such a state could be checkpointed.
    finite = jax.tree_util.tree_reduce(
        lambda ok, x: ok & jnp.all(jnp.isfinite(x)), params,
        jnp.isfinite(scalars['loss']))
    scalars['finite'] = finite.astype(jnp.float32)
    return TrainState(state.step + 1, params, opt_state), scalars

  # One-to-one tasks are ranked against their reference queries.
  centre = config.model.num_references > 0

  def graph_side(params, graph: GraphArrays):
    return model.apply({'params': params}, graph, centre=centre,
                       method='graph_side')

  def eval_step(params, graph: GraphArrays, batch: EvalBatch,
                candidate_index: jax.Array, side: Any):
    """Ranks [B, A] of each row's answers, routing weights [B, M], and the
    scores [B, C] of the nodes `candidate_index` (`padding.candidate_index`;
    for one-to-one matching) with each of their logit terms ({name: [B,
    C]}); only the answers and those nodes are scored."""
    queries = batch.queries
    scored = jnp.concatenate([
        batch.answers,
        jnp.broadcast_to(candidate_index,
                         (batch.answers.shape[0], candidate_index.shape[0]))
    ], axis=1)
    output = model.apply({'params': params}, graph, queries, scored,
                         side=side, method='rank')
    candidates = graph.entity.nodes['candidate'] & graph.entity.nodes['real']
    ranks = metrics.filtered_ranks_of_candidates(
        output.logits, batch.answers, batch.exclude, candidate_index,
        candidates, config.eval.ties)
    width = batch.answers.shape[1]
    return (ranks, output.routing, output.logits[:, width:],
            {name: term[:, width:] for name, term in output.terms.items()})

  train_batch_sharding = TrainBatch(
      queries=sharded, candidates=sharded, candidate_valid=sharded,
      edge_weight=replicated)
  eval_batch_sharding = EvalBatch(queries=sharded, answers=sharded,
                                  answer_valid=sharded, exclude=sharded,
                                  query_ids=sharded)
  return StepFns(
      train=jax.jit(train_step,
                    in_shardings=(replicated, replicated,
                                  train_batch_sharding),
                    out_shardings=(replicated, replicated),
                    donate_argnums=(0,)),
      graph_side=jax.jit(graph_side, in_shardings=(replicated, replicated),
                         out_shardings=replicated),
      eval=jax.jit(eval_step,
                   in_shardings=(replicated, replicated, eval_batch_sharding,
                                 replicated, replicated),
                   out_shardings=sharded))
