"""uint8 batches become the model's range on the device, in every step that feeds the model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.train.tiny_model import INPUT_SHAPE, TinyVideoClassifier, tiny_config
from vivit.tasks import task_for_config
from vivit.train import mesh as mesh_lib, metrics, optimizer as opt_lib
from vivit.train.pixels import to_model_range
from vivit.train import state as state_lib, step as step_lib


def test_uint8_to_either_range_and_floats_pass_through():
    pixels = jnp.asarray([0, 51, 255], jnp.uint8)
    np.testing.assert_allclose(to_model_range(pixels, True), [-1.0, -0.6, 1.0], atol=1e-6)
    np.testing.assert_allclose(to_model_range(pixels, False), [0.0, 0.2, 1.0], atol=1e-6)
    assert to_model_range(pixels, True).dtype == jnp.float32
    floats = jnp.asarray([0.5, -3.0])
    assert to_model_range(floats, True) is floats
    with pytest.raises(ValueError, match="uint8 pixels or floats, got int32"):
        to_model_range(jnp.asarray([1, 2], jnp.int32), True)


def _uint8_batch(batch_size=8):
    rng = np.random.default_rng(0)
    return {"inputs": rng.integers(0, 256, (batch_size,) + INPUT_SHAPE, dtype=np.uint8),
            "label": rng.integers(0, 6, batch_size).astype(np.int32),
            "batch_mask": np.ones(batch_size, np.float32)}


def _setup(mixup_fn=None, zero_centering=True):
    config = tiny_config()
    mesh = mesh_lib.build_mesh(config)
    model = TinyVideoClassifier()
    optimizer, schedule = opt_lib.build_optimizer(config, total_updates=8)
    _, shardings, create = state_lib.plan_train_state(
        model, optimizer, (1,) + INPUT_SHAPE, jax.random.PRNGKey(0), mesh)
    train_step = step_lib.jit_train_step(step_lib.make_train_step(
        model, optimizer, task_for_config(config), schedule, mixup_fn=mixup_fn,
        zero_centering=zero_centering), mesh, shardings)
    return model, mesh, create, shardings, train_step


@pytest.mark.parametrize("zero_centering", [True, False])
def test_train_step_on_uint8_equals_the_step_on_converted_floats(zero_centering):
    _, mesh, create, _, train_step = _setup(zero_centering=zero_centering)
    batch = _uint8_batch()
    floats = dict(batch, inputs=batch["inputs"] / 255.0 * (2 if zero_centering else 1)
                  - (1 if zero_centering else 0))
    _, from_uint8, _ = train_step(create(), mesh_lib.global_batch(mesh, batch))
    _, from_floats, _ = train_step(create(), mesh_lib.global_batch(
        mesh, dict(floats, inputs=floats["inputs"].astype(np.float32))))
    assert float(from_uint8["training_loss"].compute()) == pytest.approx(
        float(from_floats["training_loss"].compute()), rel=1e-5)


def test_mixup_gets_floats_in_the_model_range():
    seen = {}

    def mixup(rng, inputs, labels):
        seen["dtype"] = inputs.dtype
        jax.debug.callback(lambda low, high: seen.update(range=(low, high)),
                           jnp.min(inputs), jnp.max(inputs))
        return inputs, jax.nn.one_hot(labels, 6)

    _, mesh, create, _, train_step = _setup(mixup_fn=mixup)
    train_step(create(), mesh_lib.global_batch(mesh, _uint8_batch()))
    jax.effects_barrier()
    assert seen["dtype"] == jnp.float32
    low, high = (float(v) for v in seen["range"])
    assert -1.0 <= low < -0.9 and 0.9 < high <= 1.0


def test_eval_and_test_steps_convert_uint8_views():
    model, mesh, create, shardings, _ = _setup()
    state = create()
    batch = _uint8_batch(4)
    converted = np.asarray(to_model_range(jnp.asarray(batch["inputs"]), True))
    eval_step = step_lib.jit_eval_step(
        step_lib.make_eval_step(model, task_for_config(tiny_config())), mesh, shardings)
    on_uint8 = metrics.compute_metrics(eval_step(state, mesh_lib.global_batch(mesh, batch)))
    on_floats = metrics.compute_metrics(eval_step(state, mesh_lib.global_batch(
        mesh, dict(batch, inputs=converted))))
    assert on_uint8 == on_floats
    test_step = step_lib.jit_eval_step(
        step_lib.make_multiview_test_step(model, task_for_config(tiny_config())), mesh,
        shardings)
    views = np.stack([batch["inputs"], 255 - batch["inputs"]], axis=1)  # [batch, 2 views, ...]
    float_views = np.asarray(to_model_range(jnp.asarray(views), True))
    on_uint8 = metrics.compute_metrics(test_step(state, mesh_lib.global_batch(
        mesh, dict(batch, inputs=views))))
    on_floats = metrics.compute_metrics(test_step(state, mesh_lib.global_batch(
        mesh, dict(batch, inputs=float_views))))
    assert on_uint8 == pytest.approx(on_floats)
