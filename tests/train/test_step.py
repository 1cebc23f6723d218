"""Tests for vivit.train.step on the tiny model, one device: learning, rng, mixup, NaN, eval."""

import jax
import numpy as np
import pytest

from tests.train.tiny_model import (INPUT_SHAPE, NUM_CLASSES, TinyVideoClassifier,
                                    batch_for_step, tiny_config)
from vivit.tasks import task_for_config
from vivit.train import mesh as mesh_lib, metrics, optimizer as opt_lib
from vivit.train import state as state_lib, step as step_lib


def _setup(config=None, mixup_fn=None):
    config = config or tiny_config()
    mesh = mesh_lib.build_mesh(config)
    model = TinyVideoClassifier()
    optimizer, schedule = opt_lib.build_optimizer(config, total_updates=config.num_training_steps)
    _, shardings, create = state_lib.plan_train_state(
        model, optimizer, (1,) + INPUT_SHAPE, jax.random.PRNGKey(config.rng_seed), mesh)
    state = create()
    train_step = step_lib.jit_train_step(
        step_lib.make_train_step(model, optimizer, task_for_config(config), schedule,
                                 l2_decay_factor=config.l2_decay_factor, mixup_fn=mixup_fn),
        mesh, shardings)
    return model, mesh, state, shardings, train_step


def test_training_lowers_the_loss_and_logs_schedule():
    config = tiny_config(num_training_steps=40, **{"lr_configs.base_learning_rate": 0.1})
    _, mesh, state, _, train_step = _setup(config)
    fixed = mesh_lib.global_batch(mesh, batch_for_step(0))
    losses_seen, rates = [], []
    for _ in range(40):
        state, step_metrics, finite = train_step(state, fixed)
        assert bool(finite)
        losses_seen.append(float(step_metrics["training_loss"].compute()))
        rates.append(float(step_metrics["learning_rate"].compute()))
    assert int(state.step) == 40
    assert losses_seen[-1] < 0.5 * losses_seen[0]
    assert rates[0] == 0.0 and rates[2] == pytest.approx(0.1)  # Warmup of 2 updates.


def test_dropout_rng_depends_on_step_only_so_a_replay_is_identical():
    _, mesh, state0, _, train_step = _setup()
    batch = mesh_lib.global_batch(mesh, batch_for_step(3))
    a, metrics_a, _ = train_step(state0, batch)
    _, _, fresh, _, _ = _setup()
    b, metrics_b, _ = train_step(fresh, batch)
    assert float(metrics_a["training_loss"].compute()) == float(
        metrics_b["training_loss"].compute())
    d1, m1 = step_lib.step_rngs(a)
    d2, _ = step_lib.step_rngs(state_lib.TrainState(
        step=a.step + 1, params=None, opt_state=None, rng=a.rng))
    assert not np.array_equal(d1, d2) and not np.array_equal(d1, m1)


def test_mixup_hook_receives_the_step_key_and_its_targets_are_trained_on():
    seen = {}

    def mixup(rng, inputs, labels):
        seen["called"] = True
        soft = jax.nn.one_hot(labels, NUM_CLASSES)
        return inputs[::-1] * 0.5 + inputs * 0.5, soft[::-1] * 0.5 + soft * 0.5

    _, mesh, state, _, train_step = _setup(mixup_fn=mixup)
    _, step_metrics, finite = train_step(state, mesh_lib.global_batch(mesh, batch_for_step(0)))
    assert seen["called"] and bool(finite)
    assert np.isfinite(float(step_metrics["training_loss"].compute()))


def test_nan_loss_is_reported_and_leaves_the_state_untouched():
    _, mesh, state, _, train_step = _setup()
    before = jax.tree.map(np.asarray, (state.params, state.opt_state))
    bad = batch_for_step(0)
    bad["inputs"][0, 0, 0, 0, 0] = np.nan
    new_state, step_metrics, finite = train_step(state, mesh_lib.global_batch(mesh, bad))
    assert not bool(finite)
    after = jax.tree.map(np.asarray, (new_state.params, new_state.opt_state))
    jax.tree.map(np.testing.assert_array_equal, after, before)
    with pytest.raises(step_lib.NonFiniteLossError, match="step 0"):
        step_lib.check_finite(finite, 0, step_metrics)


def test_eval_and_multiview_test_steps_mask_padding_and_average_views():
    model, mesh, state, shardings, _ = _setup()
    eval_step = step_lib.jit_eval_step(
        step_lib.make_eval_step(model, task_for_config(tiny_config())), mesh, shardings)
    batch = batch_for_step(0, batch_size=4)
    batch["batch_mask"][3] = 0.0
    result = metrics.compute_metrics(eval_step(state, mesh_lib.global_batch(mesh, batch)))
    logits = model.apply({"params": state.params}, batch["inputs"][:3])
    expected = np.mean(np.argmax(logits, -1) == batch["label"][:3])
    assert result["accuracy"] == pytest.approx(expected)

    views = np.stack([batch["inputs"], batch["inputs"] * 0.5, -batch["inputs"]], axis=1)
    test_batch = dict(batch, inputs=views)  # [batch, views=3, T, H, W, 3]
    test_step = step_lib.jit_eval_step(
        step_lib.make_multiview_test_step(model, task_for_config(tiny_config())), mesh, shardings)
    result = metrics.compute_metrics(test_step(state, mesh_lib.global_batch(mesh, test_batch)))
    two_at_once = step_lib.jit_eval_step(step_lib.make_multiview_test_step(
        model, task_for_config(tiny_config()), views_at_once=2), mesh, shardings)
    assert metrics.compute_metrics(two_at_once(
        state, mesh_lib.global_batch(mesh, test_batch))) == pytest.approx(result, rel=1e-5)
    per_view = np.stack([model.apply({"params": state.params}, views[:3, v]) for v in range(3)])
    video = per_view.mean(0)
    assert result["accuracy"] == pytest.approx(np.mean(np.argmax(video, -1) == batch["label"][:3]))
    single = np.mean(np.argmax(per_view, -1) == batch["label"][None, :3])
    assert result["single_view_accuracy"] == pytest.approx(single)
    softmax_step = step_lib.jit_eval_step(step_lib.make_multiview_test_step(
        model, task_for_config(tiny_config()), average_softmax=True), mesh, shardings)
    by_softmax = metrics.compute_metrics(softmax_step(state, mesh_lib.global_batch(mesh, test_batch)))
    mean_probs = np.mean(np.asarray(jax.nn.softmax(per_view, axis=-1)), axis=0)
    assert by_softmax["accuracy"] == pytest.approx(
        np.mean(np.argmax(mean_probs, -1) == batch["label"][:3]))
    nll = -np.log(mean_probs[np.arange(3), batch["label"][:3]]).mean()
    assert by_softmax["loss"] == pytest.approx(nll, rel=1e-5)
    with pytest.raises(ValueError, match="views"):
        test_step(state, mesh_lib.global_batch(mesh, batch))


@pytest.mark.parametrize("accumulation, optimizer_accumulates, expect_norm",
                         [(1, False, True), (2, False, False), (1, True, False)])
def test_the_step_hands_its_gradient_norm_to_clipping_unless_accumulating(
        accumulation, optimizer_accumulates, expect_norm):
    """One norm per step feeds the finite guard and the clipping; with accumulation (told to
    the step, or an optax.MultiSteps optimizer) the clip must see the accumulated gradient, so
    the micro-batch norm is not handed on."""
    import optax

    config = tiny_config()
    if optimizer_accumulates:
        config.gradient_accumulation_steps = 2
    optimizer, schedule = opt_lib.build_optimizer(config, total_updates=config.num_training_steps)
    received = []

    def update(updates, state, params=None, **extra):
        received.append(extra.get("global_norm"))
        return optimizer.update(updates, state, params, **extra)

    spy = optax.GradientTransformationExtraArgs(optimizer.init, update)
    model = TinyVideoClassifier()
    mesh = mesh_lib.build_mesh(config)
    _, shardings, create = state_lib.plan_train_state(
        model, spy, (1,) + INPUT_SHAPE, jax.random.PRNGKey(0), mesh)
    step = jax.jit(step_lib.make_train_step(
        model, spy, task_for_config(config),
        schedule, gradient_accumulation_steps=accumulation))
    state, step_metrics, finite = step(create(), batch_for_step(0))
    assert bool(finite) and len(received) == 1
    assert (received[0] is not None) == expect_norm
