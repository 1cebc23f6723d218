"""Mixup: a pure jax function the train step calls on device (label smoothing is the task's
loss, `vivit.tasks`, through `optax.smooth_labels`).

Mixup follows Scenic's: one weight lambda ~ Beta(alpha, alpha) per batch, and example i is mixed
with example (batch - 1 - i), i.e. the batch reversed. Labels must be one-hot (or soft) vectors.
"""

from __future__ import annotations

import jax


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
