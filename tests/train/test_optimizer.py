"""Tests for vivit.train.optimizer: the schedule against Scenic's formula, and each chain part."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.task_helpers import dataset_of
from vivit.config import apply_overrides, default_config
from vivit.tasks import task_for_config
from vivit.train import optimizer as opt_lib


def _config(**overrides):
    config = default_config()
    config.unlock()
    return apply_overrides(config, overrides)


def _scenic_compound(step, base, warmup, cycle):
    """Scenic's constant * cosine_decay * linear_warmup, written out from its definition."""
    warm = min(1.0, step / warmup) if warmup > 0 else 1.0
    progress = max(0.0, step - warmup) / (cycle - warmup)
    cosine = max(0.0, 0.5 * (1.0 + math.cos(math.pi * (progress % 1.0))))
    return base * warm * cosine


def test_compound_schedule_matches_scenic_formula():
    config = _config(**{"lr_configs.warmup_steps": 10, "lr_configs.base_learning_rate": 0.5})
    schedule = opt_lib.learning_rate_schedule(config.lr_configs, total_updates=100)
    for step in [0, 1, 5, 10, 11, 50, 99]:
        expected = _scenic_compound(step, 0.5, 10, 100)
        assert float(schedule(step)) == pytest.approx(expected, abs=1e-6), step
    assert float(schedule(10)) == pytest.approx(0.5)


def test_schedule_factor_order_does_not_matter_and_constant_alone_is_flat():
    a = opt_lib.learning_rate_schedule(
        _config(**{"lr_configs.warmup_steps": 4}).lr_configs, total_updates=20)
    b = opt_lib.learning_rate_schedule(
        _config(**{"lr_configs.warmup_steps": 4,
                   "lr_configs.factors": "linear_warmup*constant*cosine_decay"}).lr_configs,
        total_updates=20)
    flat = opt_lib.learning_rate_schedule(
        _config(**{"lr_configs.factors": "constant"}).lr_configs, total_updates=20)
    for step in range(20):
        assert float(a(step)) == pytest.approx(float(b(step)))
        assert float(flat(step)) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"lr_configs.factors": "constant * rsqrt_decay"}, "rsqrt_decay"),
        ({"lr_configs.learning_rate_schedule": "step"}, "learning_rate_schedule"),
        ({"lr_configs.steps_per_cycle": 50}, "steps_per_cycle"),
    ],
)
def test_bad_schedule_config_names_the_key(overrides, message):
    config = _config(**overrides)
    with pytest.raises(ValueError, match=message):
        opt_lib.learning_rate_schedule(config.lr_configs, total_updates=100)


def test_total_train_steps_from_steps_or_epochs():
    assert opt_lib.total_train_steps(_config(num_training_steps=7), None) == 7
    # Scenic: int(epochs * (examples // batch_size)); the partial last batch is not a step.
    assert opt_lib.total_train_steps(_config(num_training_epochs=2, batch_size=10), 25) == 4
    assert opt_lib.total_train_steps(_config(num_training_epochs=2.5, batch_size=10), 25) == 5
    with pytest.raises(ValueError, match="fewer than config.batch_size"):
        opt_lib.total_train_steps(_config(num_training_epochs=1, batch_size=64), 10)
    with pytest.raises(ValueError, match="exactly one"):
        opt_lib.total_train_steps(_config(), 100)
    with pytest.raises(ValueError, match="exactly one"):
        opt_lib.total_train_steps(_config(num_training_steps=3, num_training_epochs=1), 100)


def _params():
    return {"Dense_0": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones((3,))}}


def _run(optimizer, params, grads_per_step):
    state = optimizer.init(params)
    for grads in grads_per_step:
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params


def test_momentum_sgd_matches_hand_computation():
    config = _config(max_grad_norm=None, **{"lr_configs.factors": "constant",
                                            "lr_configs.base_learning_rate": 0.1})
    optimizer, _ = opt_lib.build_optimizer(config, total_updates=10)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 2.0), _params())
    params = _run(optimizer, _params(), [grads, grads])
    # m1 = 2, w1 = 1 - 0.2; m2 = 0.9 * 2 + 2 = 3.8, w2 = w1 - 0.38.
    np.testing.assert_allclose(params["Dense_0"]["kernel"], 1 - 0.2 - 0.38, rtol=1e-6)


def test_clipping_bounds_the_first_update_by_max_grad_norm():
    config = _config(max_grad_norm=1.0, **{"lr_configs.factors": "constant",
                                          "lr_configs.base_learning_rate": 1.0})
    optimizer, _ = opt_lib.build_optimizer(config, total_updates=10)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 100.0), _params())
    params = _run(optimizer, _params(), [grads])
    delta = jax.tree.map(lambda a, b: a - b, params, _params())
    assert float(optax.tree.norm(delta)) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("scale", [0.01, 100.0])  # below and above the limit
def test_clipping_equals_optax_with_or_without_a_given_norm(scale):
    grads = jax.tree.map(lambda p: scale * jnp.arange(1.0, p.size + 1).reshape(p.shape),
                         _params())
    reference, _ = optax.clip_by_global_norm(1.0).update(grads, optax.EmptyState())
    clip = opt_lib.clip_by_global_norm(1.0)
    computed, state = clip.update(grads, clip.init(_params()))
    given, _ = clip.update(grads, state, global_norm=optax.tree.norm(grads))
    for ours in (computed, given):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), ours, reference)
    if scale < 1:  # Below the limit the gradients pass unchanged, bit for bit.
        jax.tree.map(np.testing.assert_array_equal, computed, grads)
    assert float(optax.tree.norm(given)) == pytest.approx(min(1.0, float(
        optax.tree.norm(grads))), rel=1e-6)


def test_optimizer_state_keeps_the_tree_of_optax_clipping():
    """Optimizer states saved before clipping became ours restore into the new chain."""
    config = _config(optimizer="adamw", max_grad_norm=1.0,
                     **{"optimizer_configs.weight_decay": 0.1})
    optimizer, schedule = opt_lib.build_optimizer(config, total_updates=10)
    opt = config.optimizer_configs
    before = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.scale_by_adam(b1=opt.beta1, b2=opt.beta2, eps=opt.epsilon),
        optax.add_decayed_weights(0.1, mask=opt_lib.kernel_mask),
        optax.scale_by_learning_rate(schedule))
    ours, theirs = optimizer.init(_params()), before.init(_params())
    assert jax.tree.structure(ours) == jax.tree.structure(theirs)
    grads = jax.tree.map(lambda p: jnp.full_like(p, 3.0), _params())
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
                 _run(optimizer, _params(), [grads, grads]), _run(before, _params(), [grads, grads]))


def test_clipping_refuses_a_limit_that_is_not_positive():
    with pytest.raises(ValueError, match="max_norm"):
        opt_lib.clip_by_global_norm(0.0)


def test_explicit_weight_decay_shrinks_kernels_only():
    config = _config(max_grad_norm=None, explicit_weight_decay=0.5,
                     **{"lr_configs.factors": "constant", "lr_configs.base_learning_rate": 0.1})
    optimizer, _ = opt_lib.build_optimizer(config, total_updates=10)
    zeros = jax.tree.map(jnp.zeros_like, _params())
    params = _run(optimizer, _params(), [zeros])
    np.testing.assert_allclose(params["Dense_0"]["kernel"], 1 - 0.1 * 0.5, rtol=1e-6)
    np.testing.assert_allclose(params["Dense_0"]["bias"], 1.0)


def test_adamw_matches_optax_adamw_on_kernels():
    config = _config(optimizer="adamw", max_grad_norm=None,
                     **{"lr_configs.factors": "constant", "lr_configs.base_learning_rate": 0.01,
                        "optimizer_configs.weight_decay": 0.1})
    optimizer, _ = opt_lib.build_optimizer(config, total_updates=10)
    reference = optax.adamw(0.01, weight_decay=0.1, mask=opt_lib.kernel_mask)
    grads = jax.tree.map(lambda p: jnp.arange(p.size, dtype=p.dtype).reshape(p.shape),
                         _params())
    ours = _run(optimizer, _params(), [grads, grads])
    theirs = _run(reference, _params(), [grads, grads])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), ours, theirs)


def test_gradient_accumulation_equals_one_step_on_the_mean_gradient():
    base = {"max_grad_norm": None, "lr_configs.factors": "constant"}
    single, _ = opt_lib.build_optimizer(_config(**base), total_updates=10)
    accumulated, _ = opt_lib.build_optimizer(
        _config(gradient_accumulation_steps=2, **base), total_updates=10)
    g1 = jax.tree.map(lambda p: jnp.full_like(p, 1.0), _params())
    g3 = jax.tree.map(lambda p: jnp.full_like(p, 3.0), _params())
    g2 = jax.tree.map(lambda p: jnp.full_like(p, 2.0), _params())
    after_one = _run(single, _params(), [g2])
    after_two_micro = _run(accumulated, _params(), [g1, g3])
    after_first_micro = _run(accumulated, _params(), [g1])
    jax.tree.map(np.testing.assert_allclose, after_two_micro, after_one)
    jax.tree.map(np.testing.assert_allclose, after_first_micro, _params())
    assert opt_lib.num_optimizer_updates(_config(gradient_accumulation_steps=2), 10) == 5


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"optimizer": "lamb"}, "config.optimizer"),
        ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps"),
        ({"max_grad_norm": -1.0}, "max_grad_norm"),
        ({"optimizer": "adamw", "explicit_weight_decay": 0.1}, "choose one weight decay"),
    ],
)
def test_bad_optimizer_config_names_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        opt_lib.build_optimizer(_config(**overrides), total_updates=10)


def test_loop_cadence_defaults_to_one_evaluation_and_checkpoint_per_epoch():
    from vivit.train.cadence import loop_cadence
    cadence = loop_cadence(_config(num_training_epochs=3, batch_size=10), 45)
    assert (cadence.total_steps, cadence.steps_per_epoch) == (12, 4)
    assert (cadence.eval_every, cadence.checkpoint_every, cadence.summary_every) == (4, 4, 100)
    assert [s for s in range(1, 13) if cadence.due(s, cadence.eval_every)] == [4, 8, 12]
    assert cadence.due(12, cadence.summary_every)  # The last step always reports.
    custom = loop_cadence(_config(num_training_steps=50, log_eval_steps=20, checkpoint_steps=5,
                                  batch_size=10), 45)
    assert (custom.eval_every, custom.checkpoint_every) == (20, 5)
    with pytest.raises(ValueError, match="log_summary_steps"):
        loop_cadence(_config(num_training_steps=5, log_summary_steps=-1, batch_size=10), 45)


def test_unresolved_warmup_epochs_is_refused_not_dropped():
    """warmup_epochs needs the train split's size; build_optimizer without it would warm up 0."""
    config = _config(**{"lr_configs.warmup_epochs": 2.0, "num_training_steps": 100})
    with pytest.raises(ValueError, match=r"lr_configs.warmup_epochs=2.0 is not resolved.*"
                                         r"resolve_schedule"):
        opt_lib.build_optimizer(config, total_updates=100)
    resolved = opt_lib.resolve_schedule(config, num_train_examples=16 * config.batch_size)
    _, schedule = opt_lib.build_optimizer(resolved, total_updates=100)
    assert resolved.lr_configs.warmup_steps == 32
    assert float(schedule(0)) == 0.0 and float(schedule(16)) < float(schedule(32))


def test_inference_restore_resolves_warmup_epochs_like_training(monkeypatch, tmp_path):
    """eval/test/predict build the run from the schedule training used (warmup in updates)."""
    import trainer
    from vivit.config import load_config

    config = load_config("configs/demo.py", ["lr_configs.warmup_epochs=1.0",
                                             "lr_configs.warmup_steps=None"])
    built = {}

    def capture(config, task, total_steps, mesh=None):
        built["config"] = config
        raise RuntimeError("captured")

    monkeypatch.setattr(trainer, "build_run", capture)
    with pytest.raises(RuntimeError, match="captured"):
        trainer._restore_for_inference(config, task_for_config(config), str(tmp_path), "latest")
    examples = dataset_of(config, "train").meta.num_examples
    expected = opt_lib.resolve_schedule(config, examples).lr_configs.warmup_steps
    assert built["config"].lr_configs.warmup_steps == expected > 0
