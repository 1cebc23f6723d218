"""Mixup on the device: weights of a pair sum to one, partners are the batch reversed, and the
weight follows Beta(alpha, alpha)."""

import jax
import jax.numpy as jnp
import numpy as np

from vivit.train.mixup import mixup


def test_mixup_weights_sum_to_one_and_pair_reversed():
    inputs = jnp.arange(4 * 2, dtype=jnp.float32).reshape(4, 2)
    labels = jax.nn.one_hot(jnp.array([0, 1, 2, 3]), 5)
    mix = jax.jit(lambda rng, x, y: mixup(rng, x, y, 0.3))
    mixed_x, mixed_y, weight = mix(jax.random.key(0), inputs, labels)
    assert 0.0 < float(weight) < 1.0
    np.testing.assert_allclose(mixed_y.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(mixed_y[0, 0], weight, rtol=1e-6)
    np.testing.assert_allclose(mixed_y[0, 3], 1 - weight, rtol=1e-6)
    np.testing.assert_allclose(mixed_x[0], weight * inputs[0] + (1 - weight) * inputs[3], rtol=1e-5)


def test_mixup_weight_is_beta_distributed():
    keys = jax.random.split(jax.random.key(1), 400)
    weights = jax.vmap(lambda k: mixup(k, jnp.zeros((2, 1)), jnp.zeros((2, 3)), 0.3)[2])(keys)
    # Beta(0.3, 0.3): mean 1/2, mostly near 0 or 1.
    assert abs(float(weights.mean()) - 0.5) < 0.06
    assert float(((weights < 0.1) | (weights > 0.9)).mean()) > 0.5
