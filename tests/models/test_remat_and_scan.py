"""Rematerialisation policies and scanned encoder layers: same params (up to layout), same logits
and gradients, and bad values named."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.models.tiny import tiny_config
from tests.task_helpers import model_of
from vivit.models.encoder import REMAT_POLICIES
from vivit.formats.layer_stacking import tree_like_layout

VARIANTS = ["spacetime", "factorized_encoder", "factorized_self_attention_block",
            "factorized_dot_product_attention"]
LAYERS = 3


def _clip():
    return jax.random.normal(jax.random.PRNGKey(1), (2, 4, 16, 16, 3))


def _perturbed_params(model, clip):
    """Fresh params moved off their init, so a zero head or a unit norm hides nothing."""
    params = model.init(jax.random.PRNGKey(0), clip)["params"]
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(2), len(leaves))
    leaves = [x + 0.1 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]
    return jax.tree_util.tree_unflatten(tree, leaves)


def _config(attention, **overrides):
    layers = dict(num_layers=LAYERS)
    config = tiny_config(attention, **layers, **overrides)
    for section in (config.model.spatial_transformer, config.model.temporal_transformer):
        section.num_layers = LAYERS
    return config


def _shapes(params):
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params), sep="/")
    return {path: value.shape for path, value in flat.items()}


@pytest.mark.parametrize("policy", sorted(REMAT_POLICIES))
def test_every_remat_policy_keeps_the_tree_the_logits_and_the_gradients(policy):
    clip = _clip()
    plain = model_of(_config("spacetime"))
    remat = model_of(_config("spacetime", remat=True, remat_policy=policy))
    params = _perturbed_params(plain, clip)
    assert _shapes(remat.init(jax.random.PRNGKey(0), clip)["params"]) == _shapes(params)
    assert "encoderblock_2" in params["Transformer"]

    def loss(model, p):
        return jnp.sum(model.apply({"params": p}, clip) ** 2)

    np.testing.assert_allclose(remat.apply({"params": params}, clip),
                               plain.apply({"params": params}, clip), rtol=1e-6, atol=1e-6)
    grads = [jax.jit(jax.grad(lambda p, m=m: loss(m, p)))(params) for m in (plain, remat)]
    for a, b in zip(*map(jax.tree_util.tree_leaves, grads)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _remat_policies(jaxpr) -> list:
    """The policy of every rematerialised region in `jaxpr`, also inside scans."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name.startswith(("remat", "checkpoint")):
            found.append(eqn.params["policy"])
        if "jaxpr" in eqn.params and eqn.primitive.name == "scan":
            found += _remat_policies(eqn.params["jaxpr"].jaxpr)
    return found


@pytest.mark.parametrize("scan_layers", [False, True])
@pytest.mark.parametrize("policy", [None] + sorted(REMAT_POLICIES))
def test_each_block_is_rematerialised_with_the_chosen_policy(policy, scan_layers):
    clip = _clip()
    model = model_of(_config("spacetime", remat=policy is not None, scan_layers=scan_layers,
                                remat_policy=policy or "full"))
    params = model.init(jax.random.PRNGKey(0), clip)["params"]
    jaxpr = jax.make_jaxpr(lambda p: model.apply({"params": p}, clip))(params).jaxpr
    expected = [] if policy is None else [REMAT_POLICIES[policy]] * (1 if scan_layers else LAYERS)
    assert _remat_policies(jaxpr) == expected


@pytest.mark.parametrize("attention", VARIANTS)
def test_scanned_and_unrolled_layers_give_the_same_logits_and_gradients(attention):
    clip = _clip()
    unrolled = model_of(_config(attention))
    scanned = model_of(_config(attention, scan_layers=True))
    params = _perturbed_params(unrolled, clip)
    stacked = tree_like_layout(params, scanned.init(jax.random.PRNGKey(0), clip)["params"])
    encoder = "SpatialTransformer" if attention == "factorized_encoder" else "Transformer"
    assert set(stacked[encoder]) == {"posembed_input", "encoderblock", "encoder_norm"}
    assert jax.tree_util.tree_leaves(stacked[encoder]["encoderblock"])[0].shape[0] == LAYERS

    logits = jax.jit(unrolled.apply)({"params": params}, clip)
    np.testing.assert_allclose(jax.jit(scanned.apply)({"params": stacked}, clip), logits,
                               rtol=1e-5, atol=1e-6)
    if attention not in ("spacetime", "factorized_encoder"):
        return  # Gradients through the scan: one single- and one two-encoder model suffice.

    def loss(model, p):
        return jnp.sum(model.apply({"params": p}, clip) ** 2)

    grads = jax.jit(jax.grad(lambda p: loss(unrolled, p)))(params)
    scanned_grads = jax.jit(jax.grad(lambda p: loss(scanned, p)))(stacked)
    back = tree_like_layout(scanned_grads, params)
    for path, value in flax.traverse_util.flatten_dict(grads, sep="/").items():
        other = flax.traverse_util.flatten_dict(back, sep="/")[path]
        np.testing.assert_allclose(other, value, rtol=1e-4, atol=1e-6, err_msg=path)


def test_scanned_layers_train_with_remat_dropout_and_stochastic_depth():
    clip = _clip()
    model = model_of(_config("spacetime", scan_layers=True, remat=True, remat_policy="dots",
                                dropout_rate=0.1, stochastic_droplayer_rate=0.5))
    params = _perturbed_params(model, clip)

    @jax.jit
    def run(p, seed):
        return model.apply({"params": p}, clip, train=True,
                           rngs={"dropout": jax.random.PRNGKey(seed)})

    grads = jax.jit(jax.grad(lambda p: jnp.sum(run(p, 0) ** 2)))(params)
    assert all(np.isfinite(g).all() for g in jax.tree_util.tree_leaves(grads))
    assert not np.allclose(run(params, 0), run(params, 1))  # drawn per step
    np.testing.assert_allclose(run(params, 0), run(params, 0))


@pytest.mark.parametrize("overrides,message", [
    (dict(remat=True, remat_policy="everything"),
     r"model.remat_policy='everything' is not supported; expected one of \('full', 'dots', "),
    (dict(remat_policy="dots"),
     "model.remat_policy='dots' takes effect only with model.remat=True"),
])
def test_bad_remat_settings_name_the_key(overrides, message):
    with pytest.raises(ValueError, match=message):
        model_of(_config("spacetime", **overrides))


def test_flops_of_a_scanned_model_count_every_layer():
    """XLA's cost analysis counts a scan body once; vivit.flops counts the unrolled model."""
    from vivit.flops import count
    from vivit.tasks import task_for_config

    config = _config("spacetime")
    config.dataset_configs.update(num_frames=4, crop_size=16)
    unrolled = count(config, task_for_config(config))
    config.model.scan_layers = True
    assert count(config, task_for_config(config)) == unrolled
