"""The jitted train, eval and multi-view test steps, with named shardings on the mesh.

A train step never applies a non-finite update: when the loss or the gradient norm is NaN/inf
it returns the state unchanged together with `finite=False`, and the loop stops with
`NonFiniteLossError`, so neither the live state nor any checkpoint is damaged.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from clu import metrics as clu_metrics
from jax.sharding import Mesh

from vivit.tasks import Task
from vivit.train import mesh as mesh_lib
from vivit.train import pixels
from vivit.train.metrics import Metrics
from vivit.train.optimizer import l2_penalty
from vivit.train.state import TrainState

Batch = Mapping[str, jax.Array]
# (rng, inputs, labels) -> (mixed inputs, soft targets); e.g. a wrapper of vivit.train.mixup.
MixupFn = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]
TrainStepFn = Callable[[TrainState, Batch], tuple[TrainState, Metrics]]
EvalStepFn = Callable[[TrainState, Batch], Metrics]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the state was left at the last good step."""


def step_rngs(state: TrainState) -> tuple[jax.Array, jax.Array]:
    """(dropout, mixup) keys of this step: a function of the base key and the step only."""
    dropout_rng, mixup_rng = jax.random.split(jax.random.fold_in(state.rng, state.step))
    return dropout_rng, mixup_rng


def _scalar(value: jax.Array) -> clu_metrics.Average:
    return clu_metrics.Average(total=jnp.asarray(value, jnp.float32), count=jnp.asarray(1, jnp.int32))


def make_train_step(
    model: nn.Module,
    optimizer: optax.GradientTransformation,
    task: Task,
    learning_rate: optax.Schedule,
    *,
    l2_decay_factor: float | None = None,
    gradient_accumulation_steps: int = 1,
    mixup_fn: MixupFn | None = None,
    zero_centering: bool = True,
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics, jax.Array]]:
    """Builds train_step(state, batch) -> (state, metrics, finite) (not yet jitted).

    uint8 inputs become the model's range (dataset_configs.zero_centering) before mixup. The
    task gives the loss and the per-batch metrics. Metrics hold the task's metrics on this batch plus 'training_loss' (the optimized
    objective: smoothed loss + L2), 'learning_rate' and 'grad_norm'.
    """

    optimizer = optax.with_extra_args_support(optimizer)

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics, jax.Array]:
        dropout_rng, mixup_rng = step_rngs(state)
        inputs, labels = pixels.to_model_range(batch["inputs"], zero_centering), batch["label"]
        weights = batch.get("batch_mask")
        if mixup_fn is not None:
            inputs, labels = mixup_fn(mixup_rng, inputs, labels)

        def objective(params: Any) -> tuple[jax.Array, jax.Array]:
            logits = model.apply(
                {"params": params}, inputs, train=True, rngs={"dropout": dropout_rng})
            loss = task.loss(logits, labels, weights) + l2_penalty(params, l2_decay_factor)
            return loss, logits

        (loss, logits), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        grad_norm = optax.tree.norm(grads)
        # Clipping (vivit.train.optimizer.clip_by_global_norm) reuses this norm; with gradient
        # accumulation it clips the accumulated gradient, whose norm it computes itself.
        accumulating = (gradient_accumulation_steps > 1
                        or isinstance(state.opt_state, optax.MultiStepsState))
        norm_arg = {} if accumulating else {"global_norm": grad_norm}
        finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        # The update runs under a cond, not a select of old and new state: the select read and
        # wrote every parameter and moment once more (5% of a ViViT-B train step on CPU;
        # docs/cpu_performance.md); the cond's step is as fast as one with no guard.

        def apply(operands: tuple[Any, Any, Any]) -> tuple[Any, Any]:
            params, opt_state, grads = operands
            updates, opt_state = optimizer.update(grads, opt_state, params, **norm_arg)
            return optax.apply_updates(params, updates), opt_state

        params, opt_state = jax.lax.cond(
            finite, apply, lambda operands: operands[:2], (state.params, state.opt_state, grads))
        new_state = state.replace(params=params, opt_state=opt_state, step=state.step + 1)
        metrics = dict(task.metrics(logits, labels, weights))
        metrics["training_loss"] = _scalar(loss)
        metrics["grad_norm"] = _scalar(grad_norm)
        metrics["learning_rate"] = _scalar(
            learning_rate(state.step // gradient_accumulation_steps))
        return new_state, metrics, finite

    return train_step


def jit_train_step(
    train_step: Callable[..., Any], mesh: Mesh, state_shardings: Any
) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics, jax.Array]]:
    """jit with the state in its (replicated or FSDP) layout, the batch split over devices and
    the state's buffers donated (it is replaced every step)."""
    replicated = mesh_lib.replicated(mesh)
    return jax.jit(
        train_step,
        in_shardings=(state_shardings, mesh_lib.batch_sharding(mesh)),
        out_shardings=(state_shardings, replicated, replicated),
        donate_argnums=0,
    )


def check_finite(finite: jax.Array, step: int, metrics: Mapping[str, Any]) -> None:
    """Raises NonFiniteLossError naming the step when its loss or gradient was not finite."""
    if not bool(finite):
        loss = float(metrics["training_loss"].compute())
        norm = float(metrics["grad_norm"].compute())
        raise NonFiniteLossError(
            f"Non-finite training loss at step {step} (loss={loss}, grad_norm={norm}). The "
            "update was not applied and existing checkpoints are untouched; lower "
            "lr_configs.base_learning_rate, set max_grad_norm, or check the input data."
        )


def make_eval_step(model: nn.Module, task: Task, *, zero_centering: bool = True
                   ) -> Callable[..., Metrics]:
    """eval_step(state, batch) -> the task's evaluation metrics of one single-view batch,
    padding masked out."""

    def eval_step(state: TrainState, batch: Batch) -> Metrics:
        inputs = pixels.to_model_range(batch["inputs"], zero_centering)
        logits = model.apply({"params": state.params}, inputs, train=False)
        return task.eval_metrics(logits, batch["label"], batch.get("batch_mask"))

    return eval_step


def make_multiview_test_step(
    model: nn.Module, task: Task, *, average_softmax: bool = False, views_at_once: int = 1,
    zero_centering: bool = True,
) -> Callable[..., Metrics]:
    """test_step(state, batch) for inputs [batch, views, T, H, W, 3].

    Runs `views_at_once` views of every video together (config.multicrop_clips_per_device;
    memory grows with it), averages the views as the task does (`Task.average_views`: logits, or
    probabilities with config.multicrop_softmax_logits) for the multi-view metrics, and also
    reports every view scored alone under 'single_view_*' keys. Each video's views stay on the
    device that holds the video.
    """

    def test_step(state: TrainState, batch: Batch) -> Metrics:
        inputs = batch["inputs"]
        if inputs.ndim != 6:
            raise ValueError(
                f"Multi-view test inputs must be [batch, views, T, H, W, 3], got {inputs.shape}.")
        apply_view = lambda view: model.apply(  # uint8 views converted one chunk at a time
            {"params": state.params}, pixels.to_model_range(view, zero_centering), train=False)
        per_view = jax.lax.map(  # [views, batch, classes]
            apply_view, jnp.moveaxis(inputs, 1, 0), batch_size=min(views_at_once, inputs.shape[1]))
        per_view = per_view.astype(jnp.float32)
        video_scores = task.average_views(per_view, average_softmax)
        labels, mask = batch["label"], batch.get("batch_mask")
        result = dict(task.eval_metrics(video_scores, labels, mask))
        views = per_view.shape[0]
        flat_logits = per_view.reshape((-1,) + per_view.shape[2:])
        flat_labels = jnp.tile(labels, (views,) + (1,) * (labels.ndim - 1))
        flat_mask = None if mask is None else jnp.tile(mask, views)
        single = task.eval_metrics(flat_logits, flat_labels, flat_mask)
        result.update({f"single_view_{name}": value for name, value in single.items()})
        return result

    return test_step


def jit_eval_step(eval_step: Callable[..., Metrics], mesh: Mesh, state_shardings: Any):
    """jit an eval or test step: state in its layout, batch split over devices."""
    return jax.jit(
        eval_step,
        in_shardings=(state_shardings, mesh_lib.batch_sharding(mesh)),
        out_shardings=mesh_lib.replicated(mesh),
    )
