"""The optax optimizer and learning-rate schedule described by a training config.

Follows Scenic's ViViT recipe: SGD with momentum 0.9, the 'compound' schedule
'constant * cosine_decay * linear_warmup', clipping by global norm, optional L2 (added to the
loss, `l2_penalty`) or decoupled weight decay on kernels, and gradient
accumulation. Schedules count optimizer *updates*: with gradient accumulation over k micro-batches,
warmup_steps and steps_per_cycle are in updates, i.e. train steps / k.
"""

from __future__ import annotations

from typing import Any

import jax
from absl import logging
import jax.numpy as jnp
import ml_collections
import optax

_SUPPORTED_FACTORS = ("constant", "linear_warmup", "cosine_decay")
_SUPPORTED_OPTIMIZERS = ("momentum", "adam", "adamw")


def steps_per_epoch(config: ml_collections.ConfigDict, num_train_examples: int) -> int:
    """Full global batches in one pass over the training split (Scenic: examples // batch)."""
    if not num_train_examples or num_train_examples < config.batch_size:
        raise ValueError(
            f"The training split has {num_train_examples} examples, fewer than "
            f"config.batch_size={config.batch_size}."
        )
    return num_train_examples // config.batch_size


def total_train_steps(config: ml_collections.ConfigDict, num_train_examples: int | None) -> int:
    """Train steps (micro-batches) of the whole run, from num_training_steps or epochs.

    Exactly one of `num_training_steps` and `num_training_epochs` must be set; epochs need the
    number of training examples (from the dataset's meta) and count, as in Scenic,
    int(epochs * (examples // batch_size)) steps.
    """
    steps, epochs = config.get("num_training_steps"), config.get("num_training_epochs")
    if (steps is None) == (epochs is None):
        raise ValueError(
            "Set exactly one of config.num_training_steps and config.num_training_epochs "
            f"(got num_training_steps={steps}, num_training_epochs={epochs})."
        )
    if steps is not None:
        if int(steps) <= 0:
            raise ValueError(f"config.num_training_steps must be positive, got {steps}.")
        return int(steps)
    if epochs <= 0:
        raise ValueError(f"config.num_training_epochs must be positive, got {epochs}.")
    return max(1, int(epochs * steps_per_epoch(config, num_train_examples)))


def resolve_schedule(config: ml_collections.ConfigDict, num_train_examples: int
                     ) -> ml_collections.ConfigDict:
    """`config` with `lr_configs.warmup_epochs` turned into `warmup_steps` (optimizer updates).

    Resolved at run time from batch_size, gradient accumulation and the training split's size,
    so overriding any of them keeps the warmup at the same number of epochs. An explicit
    `warmup_steps` (Scenic's key) wins. Returns `config` itself when there is nothing to resolve.
    """
    lr_configs = config.lr_configs
    epochs = lr_configs.get("warmup_epochs")
    if epochs is None:
        return config
    if lr_configs.get("warmup_steps") is not None:
        logging.info("lr_configs.warmup_steps=%s is set; lr_configs.warmup_epochs=%s is ignored.",
                     lr_configs.warmup_steps, epochs)
        return config
    if epochs < 0:
        raise ValueError(f"config.lr_configs.warmup_epochs must be >= 0, got {epochs}.")
    updates_per_epoch = steps_per_epoch(config, num_train_examples) / _accumulation_steps(config)
    resolved = config.copy_and_resolve_references()
    resolved.lr_configs.warmup_steps = int(epochs * updates_per_epoch)
    resolved.lock()
    return resolved


def num_optimizer_updates(config: ml_collections.ConfigDict, train_steps: int) -> int:
    """Optimizer updates in `train_steps` micro-batches (the schedule's time axis)."""
    accumulation = _accumulation_steps(config)
    return max(1, train_steps // accumulation)


def _accumulation_steps(config: ml_collections.ConfigDict) -> int:
    steps = config.get("gradient_accumulation_steps")
    steps = 1 if steps is None else steps
    if int(steps) < 1:
        raise ValueError(f"config.gradient_accumulation_steps must be >= 1, got {steps}.")
    return int(steps)


def learning_rate_schedule(
    lr_configs: ml_collections.ConfigDict, total_updates: int
) -> optax.Schedule:
    """Scenic's 'compound' schedule as a product of optax schedules, indexed by update count.

    'cosine_decay' starts after the warmup and reaches its floor at `steps_per_cycle`
    (default: the whole run), as in Scenic; Scenic restarts the cosine after a cycle, which only
    matters if steps_per_cycle is shorter than the run, so that case is rejected.
    """
    kind = lr_configs.get("learning_rate_schedule", "compound")
    if kind != "compound":
        raise ValueError(
            f"config.lr_configs.learning_rate_schedule={kind!r} is not supported; use 'compound'."
        )
    names = [name.strip() for name in lr_configs.factors.split("*") if name.strip()]
    unknown = [name for name in names if name not in _SUPPORTED_FACTORS]
    if not names or unknown:
        raise ValueError(
            f"config.lr_configs.factors={lr_configs.factors!r}: unknown factor(s) {unknown}; "
            f"supported: {list(_SUPPORTED_FACTORS)}."
        )
    warmup = int(lr_configs.get("warmup_steps") or 0)
    cycle = lr_configs.get("steps_per_cycle") or total_updates
    factors: list[optax.Schedule] = []
    for name in names:
        if name == "constant":
            factors.append(optax.constant_schedule(float(lr_configs.base_learning_rate)))
        elif name == "linear_warmup" and warmup > 0:
            alpha = float(lr_configs.get("warmup_alpha") or 0.0)
            factors.append(optax.linear_schedule(alpha, 1.0, warmup))
        elif name == "cosine_decay":
            factors.append(_cosine_after_warmup(lr_configs, warmup, int(cycle), total_updates))

    def schedule(count: Any) -> jax.Array:
        value = jnp.asarray(1.0, jnp.float32)
        for factor in factors:
            value = value * factor(count)
        return value

    return schedule


def _cosine_after_warmup(
    lr_configs: ml_collections.ConfigDict, warmup: int, cycle: int, total_updates: int
) -> optax.Schedule:
    if cycle < total_updates:
        raise ValueError(
            f"config.lr_configs.steps_per_cycle={cycle} is shorter than the run "
            f"({total_updates} optimizer updates); cosine restarts are not supported. Unset it "
            "(--config.lr_configs.steps_per_cycle=None) to decay over the whole run."
        )
    if cycle <= warmup:
        length = (f"config.lr_configs.steps_per_cycle={cycle}" if lr_configs.get("steps_per_cycle")
                  else f"The run's {cycle} optimizer updates (the cosine decay length)")
        raise ValueError(
            f"{length} must exceed config.lr_configs.warmup_steps={warmup}."
        )
    alpha = float(lr_configs.get("alpha") or 0.0)
    cosine = optax.cosine_decay_schedule(1.0, cycle - warmup, alpha=alpha)
    return optax.join_schedules([optax.constant_schedule(1.0), cosine], [warmup])


def kernel_mask(params: Any) -> Any:
    """True for every parameter named 'kernel' (Scenic decays only kernels, not biases/norms)."""

    def is_kernel(path: tuple[Any, ...], _: Any) -> bool:
        last = path[-1] if path else None
        return getattr(last, "key", getattr(last, "name", None)) == "kernel"

    return jax.tree_util.tree_map_with_path(is_kernel, params)


def clip_by_global_norm(max_norm: float) -> optax.GradientTransformationExtraArgs:
    """optax.clip_by_global_norm as one multiplication, optionally with a norm already computed.

    Updates are scaled by min(1, max_norm / norm): below the limit the factor is exactly 1, above
    it the result equals optax's (t / norm) * max_norm up to rounding. Written as a product with
    a scalar, XLA fuses the clipping into the optimizer's moment updates; optax's select form
    made XLA's CPU backend write the clipped gradients out (one more pass over every gradient;
    docs/cpu_performance.md). The train step passes
    `global_norm=` (the norm it computes anyway for its finite-loss guard), so the norm is not
    computed twice. Its state is optax's EmptyState, as optax's clipping, so optimizer states in
    existing checkpoints keep their tree.
    """
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}.")

    def update(updates: Any, state: Any, params: Any = None, *, global_norm: Any = None,
               **extra_args: Any) -> tuple[Any, Any]:
        del params, extra_args
        norm = optax.tree.norm(updates) if global_norm is None else global_norm
        factor = jnp.minimum(1.0, max_norm / norm)
        return jax.tree.map(lambda t: t * factor.astype(t.dtype), updates), state

    return optax.GradientTransformationExtraArgs(optax.init_empty_state, update)


def build_optimizer(
    config: ml_collections.ConfigDict, total_updates: int
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """Returns (optimizer, schedule) for `total_updates` optimizer updates.

    The chain is: clip by global norm -> optimizer direction (momentum / Adam) -> decoupled weight
    decay on kernels (w * wd, scaled by the learning rate like Scenic's explicit_weight_decay and
    optax.adamw) -> learning rate. With gradient_accumulation_steps=k > 1 it is wrapped in
    optax.MultiSteps, which averages k micro-batch gradients and updates once.
    """
    name = config.optimizer
    if name not in _SUPPORTED_OPTIMIZERS:
        raise ValueError(
            f"config.optimizer={name!r} is not supported; choose one of {_SUPPORTED_OPTIMIZERS}."
        )
    lr_configs = config.lr_configs
    if lr_configs.get("warmup_epochs") is not None and lr_configs.get("warmup_steps") is None:
        # Without this the schedule would read warmup_steps=None as no warmup at all.
        raise ValueError(
            f"config.lr_configs.warmup_epochs={lr_configs.warmup_epochs} is not resolved into "
            "warmup_steps: call vivit.train.optimizer.resolve_schedule(config, "
            "num_train_examples) first, or set config.lr_configs.warmup_steps.")
    opt_configs = config.optimizer_configs
    schedule = learning_rate_schedule(lr_configs, total_updates)
    parts: list[optax.GradientTransformation] = []
    if config.get("max_grad_norm") is not None:
        if config.max_grad_norm <= 0:
            raise ValueError(f"config.max_grad_norm must be positive, got {config.max_grad_norm}.")
        parts.append(clip_by_global_norm(float(config.max_grad_norm)))
    if name == "momentum":
        parts.append(optax.trace(decay=float(opt_configs.momentum), nesterov=opt_configs.nesterov))
    else:
        parts.append(
            optax.scale_by_adam(
                b1=float(opt_configs.beta1), b2=float(opt_configs.beta2), eps=float(opt_configs.epsilon)
            )
        )
    decay = _decoupled_weight_decay(config)
    if decay:
        parts.append(optax.add_decayed_weights(decay, mask=kernel_mask))
    parts.append(optax.scale_by_learning_rate(schedule))
    optimizer = optax.chain(*parts)
    accumulation = _accumulation_steps(config)
    if accumulation > 1:
        optimizer = optax.MultiSteps(optimizer, every_k_schedule=accumulation)
    return optimizer, schedule


def _decoupled_weight_decay(config: ml_collections.ConfigDict) -> float:
    explicit = config.get("explicit_weight_decay")
    adamw = config.optimizer_configs.weight_decay if config.optimizer == "adamw" else None
    if explicit and adamw:
        raise ValueError(
            "Both config.explicit_weight_decay and config.optimizer_configs.weight_decay "
            "(adamw) are set; choose one weight decay."
        )
    return float(explicit or adamw or 0.0)


def check_batch_sizes_and_learning_rate(config: ml_collections.ConfigDict) -> None:
    """Rejects batch sizes below 1 and a learning rate that is not positive, naming the key.

    Called before a run opens data or writes anything: a zero batch otherwise surfaces as a
    ZeroDivisionError deep in the step count, and a negative rate trains uphill without a word.
    A rate of exactly 0 is allowed with a warning (a run that only evaluates its initialization).
    """
    sizes = (("batch_size", config.get("batch_size")),
             ("eval_batch_size", config.get("eval_batch_size")),
             ("dataset_configs.test_batch_size", config.dataset_configs.get("test_batch_size")))
    for key, value in sizes:
        if value is None and key != "batch_size":
            continue  # Optional: defaults to the training batch.
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"config.{key}={value!r} must be a positive integer (a global batch "
                             "size, summed over all devices and processes).")
    lr_configs = config.lr_configs
    factors = [name.strip() for name in str(lr_configs.get("factors") or "").split("*")]
    if "constant" in factors:
        rate = lr_configs.get("base_learning_rate")
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not rate >= 0:
            raise ValueError(
                f"config.lr_configs.base_learning_rate={rate!r} must be a positive number "
                "(the peak learning rate of the schedule).")
        if rate == 0:  # Allowed: evaluates an initialization through the training loop.
            logging.warning("config.lr_configs.base_learning_rate=0: the parameters will not "
                            "change during training.")


def l2_penalty(params: Any, l2_decay_factor: float | None) -> jax.Array:
    """0.5 * l2_decay_factor * sum of squares over every parameter (Scenic's L2 term, added to
    the loss by the train step; the alternative to the decoupled weight decay above)."""
    if not l2_decay_factor:
        return jnp.asarray(0.0, jnp.float32)
    squares = [jnp.sum(jnp.square(leaf.astype(jnp.float32))) for leaf in jax.tree.leaves(params)]
    return 0.5 * l2_decay_factor * sum(squares)
