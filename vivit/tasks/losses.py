"""The losses of the three label types: single-label, multi-head (verb + noun), multi-label.

All losses take logits [batch, classes] and targets that are either integer labels ([batch], or
[batch, heads] for multi-head) or float soft targets [batch, classes] (after mixup), and an
optional `weights` [batch] (the batch_mask: 0 for padding). They return the weighted mean over
examples, so padded examples never count.
"""

from __future__ import annotations

import itertools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import optax

LossFn = Callable[[jax.Array, jax.Array, "jax.Array | None"], jax.Array]


def to_soft_targets(labels: jax.Array, num_classes: int) -> jax.Array:
    """Integer labels [batch] -> one-hot float [batch, classes]; float targets pass through."""
    if jnp.issubdtype(labels.dtype, jnp.integer):
        return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    if labels.shape[-1] != num_classes:
        raise ValueError(
            f"Soft targets have {labels.shape[-1]} classes but the logits have {num_classes}."
        )
    return labels.astype(jnp.float32)


def soft_targets(
    labels: jax.Array, num_classes: int, class_splits: Sequence[int] | None = None
) -> jax.Array:
    """Float targets [batch, classes] for mixup: one-hot, or per-head one-hots concatenated.

    Multi-head integer labels [batch, heads] become [batch, sum(class_splits)], the layout the
    multi-head loss and metrics split again; float targets pass through unchanged.
    """
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        return labels.astype(jnp.float32)
    if class_splits is None:
        return to_soft_targets(labels, num_classes)
    heads = head_targets(labels, class_splits)
    return jnp.concatenate(
        [jax.nn.one_hot(h, int(c), dtype=jnp.float32) for h, c in zip(heads, class_splits)],
        axis=-1)


def smooth_labels(targets: jax.Array, label_smoothing: float | None) -> jax.Array:
    """(1 - s) * targets + s / classes, as in Scenic (None or 0 leaves targets unchanged)."""
    if not label_smoothing:
        return targets
    return optax.smooth_labels(targets, label_smoothing)


def weighted_mean(values: jax.Array, weights: jax.Array | None) -> jax.Array:
    """Mean of per-example `values` [batch] over examples with nonzero weight."""
    if weights is None:
        return jnp.mean(values)
    weights = weights.astype(values.dtype)
    return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1e-8)


def softmax_cross_entropy(
    logits: jax.Array,
    labels: jax.Array,
    weights: jax.Array | None = None,
    label_smoothing: float | None = None,
) -> jax.Array:
    """Weighted mean softmax cross-entropy; computed in float32 whatever the logits' dtype."""
    logits = logits.astype(jnp.float32)
    targets = smooth_labels(to_soft_targets(labels, logits.shape[-1]), label_smoothing)
    return weighted_mean(optax.softmax_cross_entropy(logits, targets), weights)


def split_heads(logits: jax.Array, class_splits: Sequence[int]) -> list[jax.Array]:
    """Splits [batch, sum(class_splits)] into one [batch, c] array per head."""
    if logits.shape[-1] != sum(class_splits):
        raise ValueError(
            f"Logits have {logits.shape[-1]} classes but dataset_configs.class_splits="
            f"{list(class_splits)} sums to {sum(class_splits)}."
        )
    boundaries = list(itertools.accumulate(int(c) for c in class_splits))[:-1]
    return jnp.split(logits, boundaries, axis=-1)


def head_targets(labels: jax.Array, class_splits: Sequence[int]) -> list[jax.Array]:
    """Per-head targets: integer labels [batch, heads] or soft targets [batch, sum(splits)]."""
    if jnp.issubdtype(labels.dtype, jnp.integer):
        if labels.ndim != 2 or labels.shape[1] != len(class_splits):
            raise ValueError(
                f"Multi-head labels must be int [batch, {len(class_splits)}], got shape "
                f"{labels.shape}."
            )
        return [labels[:, head] for head in range(len(class_splits))]
    return split_heads(labels, class_splits)


def multihead_softmax_cross_entropy(
    logits: jax.Array,
    labels: jax.Array,
    class_splits: Sequence[int],
    weights: jax.Array | None = None,
    label_smoothing: float | None = None,
) -> jax.Array:
    """Scenic's multi-head loss: the per-head cross-entropies averaged with equal weight."""
    per_head = [
        softmax_cross_entropy(head_logits, head_labels, weights, label_smoothing)
        for head_logits, head_labels in zip(
            split_heads(logits, class_splits), head_targets(labels, class_splits)
        )
    ]
    return sum(per_head) / len(per_head)


def sigmoid_cross_entropy(
    logits: jax.Array,
    multi_hot: jax.Array,
    weights: jax.Array | None = None,
    label_smoothing: float | None = None,
) -> jax.Array:
    """Multi-label loss: binary cross-entropy summed over classes, weighted mean over examples."""
    logits = logits.astype(jnp.float32)
    targets = smooth_labels(multi_hot.astype(jnp.float32), label_smoothing)
    per_class = optax.sigmoid_binary_cross_entropy(logits, targets)
    return weighted_mean(jnp.sum(per_class, axis=-1), weights)
