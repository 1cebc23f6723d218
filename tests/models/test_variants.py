"""Every valid variant x tokenisation x classifier: shapes, gradients, determinism, bfloat16."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.models.tiny import CLIP_SHAPE, NUM_CLASSES, tiny_config
from tests.task_helpers import model_of

# (attention type, spatial_only_baseline)
VARIANTS = [
    ("spacetime", False),
    ("factorized_encoder", False),
    ("factorized_encoder", True),
    ("factorized_self_attention_block", False),
    ("factorized_dot_product_attention", False),
]
METHODS = ["3d_conv", "temporal_sampling"]
CLASSIFIERS = ["token", "gap", "gmp", "gsp"]
FACTORIZED_BLOCKS = ("factorized_self_attention_block", "factorized_dot_product_attention")


def valid_cases():
    for (attention, baseline), method, classifier in itertools.product(VARIANTS, METHODS, CLASSIFIERS):
        if attention in FACTORIZED_BLOCKS and classifier == "token":
            continue
        # The default run covers every variant and tokenisation with 'token'/'gap'; the other
        # poolings run with the slow tests (CI).
        marks = [pytest.mark.slow] if classifier in ("gmp", "gsp") else []
        yield pytest.param(attention, baseline, method, classifier, marks=marks,
                           id=f"{attention}{'-baseline' if baseline else ''}-{method}-{classifier}")


def random_clip(seed=0):
    return jax.random.uniform(jax.random.PRNGKey(seed), CLIP_SHAPE, minval=-1.0, maxval=1.0)


@pytest.mark.parametrize("attention,baseline,method,classifier", list(valid_cases()))
def test_variant_forward_backward_and_determinism(attention, baseline, method, classifier):
    config = tiny_config(attention, method=method, classifier=classifier, baseline=baseline,
                         dropout_rate=0.1, stochastic_droplayer_rate=0.2)
    model = model_of(config)
    clip = random_clip()
    variables = model.init(jax.random.PRNGKey(0), clip)
    # The zero-initialized output projection makes logits 0 at init; perturb it so outputs (and
    # so gradients and dropout effects) are visible.
    params = jax.tree_util.tree_map(
        lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(1), p.shape), variables["params"])
    variables = {"params": params}

    logits = model.apply(variables, clip)
    assert logits.shape == (CLIP_SHAPE[0], NUM_CLASSES)
    assert logits.dtype == jnp.float32
    np.testing.assert_array_equal(logits, model.apply(variables, clip, train=False))

    def loss(p, rng):
        out = model.apply({"params": p}, clip, train=True, rngs={"dropout": rng})
        return jnp.mean(out ** 2), out

    (value, train_a), grads = jax.value_and_grad(loss, has_aux=True)(params, jax.random.PRNGKey(2))
    assert np.isfinite(value)
    leaves = jax.tree_util.tree_leaves(grads)
    assert all(np.all(np.isfinite(g)) for g in leaves)
    assert any(np.any(g != 0) for g in leaves)
    _, train_same = loss(params, jax.random.PRNGKey(2))
    _, train_other = loss(params, jax.random.PRNGKey(3))
    np.testing.assert_allclose(train_a, train_same, rtol=1e-5, atol=1e-6)
    assert not np.allclose(train_a, train_other), "dropout must depend on the dropout rng"
    assert not np.allclose(train_a, logits), "train mode must apply dropout"


@pytest.mark.parametrize("attention,baseline", VARIANTS)
def test_bfloat16_activations_keep_float32_parameters(attention, baseline):
    config = tiny_config(attention, baseline=baseline)
    clip = random_clip()
    model32 = model_of(config)
    variables = model32.init(jax.random.PRNGKey(0), clip)
    params = jax.tree_util.tree_map(
        lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(1), p.shape), variables["params"])
    config.model_dtype_str = "bfloat16"
    model16 = model_of(config)
    params16 = model16.init(jax.random.PRNGKey(0), clip)["params"]
    assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(params16))
    logits16 = model16.apply({"params": params}, clip)
    logits32 = model32.apply({"params": params}, clip)
    assert logits16.dtype == jnp.float32
    np.testing.assert_allclose(logits16, logits32, atol=0.1, rtol=0.1)
    assert not np.array_equal(logits16, logits32), "bfloat16 path must actually compute in bf16"


def test_return_prelogits_and_preclassifier():
    config = tiny_config("spacetime", representation_size=12, return_prelogits=True)
    clip = random_clip()
    model = model_of(config)
    variables = model.init(jax.random.PRNGKey(0), clip)
    assert model.apply(variables, clip).shape == (CLIP_SHAPE[0], 12)
    assert "output_projection" not in variables["params"]
    config = tiny_config("spacetime", return_preclassifier=True)
    model = model_of(config)
    tokens = model.apply(model.init(jax.random.PRNGKey(0), clip), clip)
    assert tokens.shape == (CLIP_SHAPE[0], 1 + 2 * 2 * 2, 16)  # class token + t' x h' x w'


def test_multihead_and_multilabel_output_widths():
    config = tiny_config("factorized_encoder")
    config.model_name = "vivit_multihead_classification"
    config.dataset_configs.class_splits = (3, 5)
    config.dataset_configs.split_names = ("verb", "noun")
    clip = random_clip()
    model = model_of(config)
    assert model.apply(model.init(jax.random.PRNGKey(0), clip), clip).shape == (2, 8)
    config = tiny_config("spacetime")
    config.model_name = "vivit_multilabel_classification"
    model = model_of(config)
    assert model.apply(model.init(jax.random.PRNGKey(0), clip), clip).shape == (2, NUM_CLASSES)


def test_output_projection_is_zero_initialized():
    config = tiny_config("spacetime", representation_size=8)
    clip = random_clip()
    model = model_of(config)
    params = model.init(jax.random.PRNGKey(0), clip)["params"]
    assert not np.any(params["output_projection"]["kernel"])
    assert params["pre_logits"]["kernel"].shape == (16, 8)
    np.testing.assert_array_equal(model.apply({"params": params}, clip), 0.0)


def test_remat_gives_the_same_outputs_and_gradients():
    clip = random_clip()
    plain = model_of(tiny_config("spacetime"))
    remat = model_of(tiny_config("spacetime", remat=True))
    params = plain.init(jax.random.PRNGKey(0), clip)["params"]
    params = jax.tree_util.tree_map(lambda p: p + 0.05, params)

    def grads(model):
        return jax.grad(lambda p: jnp.sum(model.apply({"params": p}, clip) ** 2))(params)

    for a, b in zip(jax.tree_util.tree_leaves(grads(plain)), jax.tree_util.tree_leaves(grads(remat))):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
