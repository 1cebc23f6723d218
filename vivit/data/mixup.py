"""Mixup and label smoothing: pure jax functions the train step calls on device.

Mixup follows Scenic's: one weight lambda ~ Beta(alpha, alpha) per batch, and example i is mixed
with example (batch - 1 - i), i.e. the batch reversed. Labels must be one-hot (or soft) vectors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def mixup(
    rng: jax.Array, inputs: jax.Array, labels: jax.Array, alpha: float
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Returns (mixed inputs, mixed labels, lambda).

    inputs: [batch, ...]; labels: [batch, classes] one-hot or soft. lambda weights each example
    and 1 - lambda its partner, so mixed label rows still sum to what the originals summed to.
    """
    if alpha <= 0:
        raise ValueError(f"mixup.alpha must be > 0, got {alpha}.")
    weight = jax.random.beta(rng, alpha, alpha)
    mixed_inputs = weight * inputs + (1.0 - weight) * inputs[::-1]
    mixed_labels = weight * labels + (1.0 - weight) * labels[::-1]
    return mixed_inputs.astype(inputs.dtype), mixed_labels, weight


def smooth_labels(one_hot: jax.Array, smoothing: float) -> jax.Array:
    """(1 - smoothing) * one_hot + smoothing / classes (the paper's (1-l)y + l*u)."""
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {smoothing}.")
    classes = one_hot.shape[-1]
    return one_hot * (1.0 - smoothing) + smoothing / classes


def one_hot(labels: jax.Array, num_classes: int) -> jax.Array:
    """int labels [batch] -> float32 [batch, num_classes]."""
    return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
