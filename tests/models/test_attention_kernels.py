"""Our attention kernels give Flax's outputs: the float32-softmax kernel (Model 4, and
`attention_config.implementation='xla'`) for any number of leading batch axes, with its own backward
pass giving jax's gradients; Flax's kernel kept where attention dropout needs it, and Flax's
kernel with heads-major products (Models 1-3)."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.models.tiny import CLIP_SHAPE, tiny_config
from tests.task_helpers import model_of
from vivit.models import attention

VARIANTS = ["spacetime", "factorized_encoder", "factorized_self_attention_block",
            "factorized_dot_product_attention"]


def _qkv(shape, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), 3)
    return [jax.random.normal(k, shape) for k in keys]


def test_dot_product_attention_folds_leading_axes_and_matches_flax():
    query, key, value = _qkv((2, 3, 5, 4, 8))  # [batch, space, tokens, heads, head_dim]
    got = attention.dot_product_attention(query, key, value)
    assert got.shape == query.shape
    np.testing.assert_allclose(got, nn.dot_product_attention(query, key, value),
                               rtol=1e-5, atol=1e-5)


def test_dot_product_attention_broadcasts_a_mask_over_leading_axes():
    query, key, value = _qkv((2, 3, 5, 4, 8))
    mask = jnp.tril(jnp.ones((5, 5), bool))[None, None, None]  # [1, 1, heads=1, q, k]
    np.testing.assert_allclose(attention.dot_product_attention(query, key, value, mask),
                               nn.dot_product_attention(query, key, value, mask=mask),
                               rtol=1e-5, atol=1e-5)


def _reference_factorized(query, key, value):
    """Model 4 written out with Flax's kernel: half the heads over time, half over space."""
    half = query.shape[-2] // 2
    over_time = [jnp.moveaxis(t[..., :half, :], 1, 2) for t in (query, key, value)]
    time_out = jnp.moveaxis(nn.dot_product_attention(*over_time), 2, 1)
    space_out = nn.dot_product_attention(*(t[..., half:, :] for t in (query, key, value)))
    return jnp.concatenate([time_out, space_out], axis=-2)


def test_factorized_dot_product_attention_matches_flax_kernel_per_half():
    query, key, value = _qkv((2, 3, 5, 4, 8))  # [batch, time, space, heads, head_dim]
    np.testing.assert_allclose(attention.factorized_dot_product_attention(query, key, value),
                               _reference_factorized(query, key, value), rtol=1e-5, atol=1e-5)


def test_factorized_dot_product_attention_applies_dropout_when_training():
    query, key, value = _qkv((2, 3, 5, 4, 8))
    dropped = attention.factorized_dot_product_attention(
        query, key, value, dropout_rng=jax.random.PRNGKey(1), dropout_rate=0.5,
        deterministic=False)
    assert not np.allclose(dropped, _reference_factorized(query, key, value), atol=1e-3)


@pytest.mark.parametrize("variant", VARIANTS)
def test_logits_and_parameters_equal_flax_kernel(variant, implementation="xla"):
    """Attention dropout > 0 keeps Flax's kernel (inactive at eval), the reference; at rate 0 with
    attention_config.implementation set (Model 4: always) the model runs jax's kernel with the
    same parameters and must give the same logits (Model 3's inputs are 5-D)."""
    clip = jax.random.uniform(jax.random.PRNGKey(0), CLIP_SHAPE, minval=-1.0, maxval=1.0)
    flax_kernel = model_of(tiny_config(variant, attention_dropout_rate=0.1))
    jax_kernel = model_of(tiny_config(
        variant, attention_config=dict(tiny_config(variant).model.attention_config,
                                       implementation=implementation)))
    params = flax_kernel.init(jax.random.PRNGKey(0), clip)["params"]
    params = jax.tree.map(
        lambda p: p + 0.05 * jax.random.normal(jax.random.PRNGKey(1), p.shape), params)
    other = jax_kernel.init(jax.random.PRNGKey(0), clip)["params"]
    assert jax.tree.structure(other) == jax.tree.structure(params)
    assert jax.tree.map(jnp.shape, other) == jax.tree.map(jnp.shape, params)
    np.testing.assert_allclose(jax_kernel.apply({"params": params}, clip),
                               flax_kernel.apply({"params": params}, clip),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("lhs_shape, rhs_shape, contract", [
    ((2, 7, 16), (16, 4, 8), ((2,), (0,))),        # q/k/v: [b, n, D] x [D, heads, head_dim]
    ((2, 3, 7, 4, 8), (4, 8, 16), ((3, 4), (0, 1))),  # out: [..., heads, head_dim] x [.., D]
    ((7, 16), (4, 16), ((1,), (1,))),              # another contraction: passed on unchanged
])
def test_matrix_dot_general_is_lax_dot_general(lhs_shape, rhs_shape, contract):
    lhs = jax.random.normal(jax.random.PRNGKey(0), lhs_shape)
    rhs = jax.random.normal(jax.random.PRNGKey(1), rhs_shape)
    numbers = (contract, ((), ()))
    got = attention.matrix_dot_general(lhs, rhs, numbers)
    expected = jax.lax.dot_general(lhs, rhs, numbers)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_projections_as_matrix_products_keep_flax_attention_and_its_parameters():
    """Same parameter tree, initial values and outputs as Flax's default projections."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 16))
    flat = nn.MultiHeadDotProductAttention(
        num_heads=4, qkv_dot_general=attention.matrix_dot_general,
        out_dot_general=attention.matrix_dot_general)
    plain = nn.MultiHeadDotProductAttention(num_heads=4)
    params = plain.init(jax.random.PRNGKey(1), x, x)
    jax.tree.map(np.testing.assert_array_equal, flat.init(jax.random.PRNGKey(1), x, x), params)
    np.testing.assert_allclose(flat.apply(params, x, x), plain.apply(params, x, x),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("masked, dropout", [(False, False), (True, False), (False, True)])
def test_heads_major_products_keep_flax_attention_values_and_gradients(masked, dropout):
    """Flax's attention module with our two products: same parameters, outputs and gradients,
    with a mask and with attention dropout (same dropout key) too."""
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 7, 16))  # two leading batch axes
    mask = jnp.tril(jnp.ones((7, 7), bool))[None, None, None] if masked else None
    common = dict(num_heads=4, dropout_rate=0.3 if dropout else 0.0, broadcast_dropout=False,
                  deterministic=not dropout)
    heads_major = nn.MultiHeadDotProductAttention(
        qk_attn_weights_einsum_cls=attention.heads_major_qk,
        attn_weights_value_einsum_cls=attention.heads_major_pv, **common)
    plain = nn.MultiHeadDotProductAttention(**common)
    params = plain.init(jax.random.PRNGKey(1), x, x, mask=mask)
    jax.tree.map(np.testing.assert_array_equal,
                 heads_major.init(jax.random.PRNGKey(1), x, x, mask=mask), params)

    def loss(module, params, x):
        out = module.apply(params, x, x, mask=mask, rngs={"dropout": jax.random.PRNGKey(2)})
        return jnp.sum(jnp.square(out)), out

    (_, got), grads = jax.value_and_grad(loss, argnums=(1, 2), has_aux=True)(
        heads_major, params, x)
    (_, expected), expected_grads = jax.value_and_grad(loss, argnums=(1, 2), has_aux=True)(
        plain, params, x)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
                 grads, expected_grads)
    if dropout:  # dropout was applied (same mask in both), not skipped
        no_dropout = nn.MultiHeadDotProductAttention(num_heads=4, deterministic=True)
        assert not np.allclose(got, no_dropout.apply(params, x, x, mask=mask), atol=1e-3)


def test_heads_major_products_pass_other_subscripts_to_einsum():
    a = jax.random.normal(jax.random.PRNGKey(0), (3, 4))
    b = jax.random.normal(jax.random.PRNGKey(1), (4, 5))
    for product in (attention.heads_major_qk(), attention.heads_major_pv()):
        np.testing.assert_allclose(product("ij,jk->ik", a, b), a @ b, rtol=1e-5, atol=1e-5)


def test_float32_softmax_kernel_matches_jax_in_bfloat16():
    """Implementation None/'xla' is our heads-major kernel; it computes what jax's XLA kernel
    computes (float32 logits and softmax) also for bfloat16 inputs."""
    query, key, value = (t.astype(jnp.bfloat16) for t in _qkv((2, 9, 4, 8)))
    got = attention.dot_product_attention(query, key, value, implementation="xla")
    expected = jax.nn.dot_product_attention(query, key, value, implementation="xla")
    assert got.dtype == jnp.bfloat16
    np.testing.assert_allclose(got.astype(np.float32), expected.astype(np.float32),
                               rtol=1e-2, atol=1e-2)


def _jax_xla_attention(query, key, value, mask):
    """jax.nn.dot_product_attention's XLA kernel over [batch, space, tokens, heads, d] inputs."""
    fold = lambda t: t.reshape((-1,) + t.shape[2:])
    if mask is not None:
        mask = fold(jnp.broadcast_to(mask, query.shape[:2] + mask.shape[2:]))
    out = jax.nn.dot_product_attention(fold(query), fold(key), fold(value), mask=mask,
                                       implementation="xla")
    return out.reshape(query.shape)


# Causal; and rows 0-1 masked out entirely (both kernels then attend uniformly, no gradient).
MASKS = {"none": None, "causal": jnp.tril(jnp.ones((5, 5), bool))[None, None, None],
         "empty rows": jnp.ones((1, 1, 1, 5, 5), bool).at[..., :2, :].set(False)}


@pytest.mark.parametrize("mask", MASKS, ids=list(MASKS))
def test_float32_softmax_kernel_gradients_equal_jax(mask):
    """The kernel's own backward pass (saved weights, softmax row term from the output) gives
    the gradients autodiff gives through jax's XLA kernel."""
    query, key, value = _qkv((2, 3, 5, 4, 8))
    cotangent = jax.random.normal(jax.random.PRNGKey(7), query.shape)
    mask = MASKS[mask]

    def loss(kernel, *qkv):
        return jnp.sum(kernel(*qkv, mask) * cotangent)

    ours = jax.value_and_grad(lambda *qkv: loss(attention.dot_product_attention, *qkv),
                              argnums=(0, 1, 2))(query, key, value)
    jax_ = jax.value_and_grad(lambda *qkv: loss(_jax_xla_attention, *qkv),
                              argnums=(0, 1, 2))(query, key, value)
    np.testing.assert_allclose(ours[0], jax_[0], rtol=1e-5, atol=1e-5)
    for got, expected in zip(ours[1], jax_[1]):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_float32_softmax_kernel_gradients_in_bfloat16():
    query, key, value = (t.astype(jnp.bfloat16) for t in _qkv((2, 9, 4, 8)))
    cotangent = jax.random.normal(jax.random.PRNGKey(7), query.shape)

    def loss(kernel, *qkv):
        return jnp.sum(kernel(*qkv).astype(jnp.float32) * cotangent)

    ours = jax.grad(lambda *qkv: loss(attention.dot_product_attention, *qkv),
                    argnums=(0, 1, 2))(query, key, value)
    jax_ = jax.grad(lambda *qkv: loss(
        lambda q, k, v: jax.nn.dot_product_attention(q, k, v, implementation="xla"), *qkv),
        argnums=(0, 1, 2))(query, key, value)
    for got, expected in zip(ours, jax_):
        assert got.dtype == jnp.bfloat16
        np.testing.assert_allclose(got.astype(np.float32), expected.astype(np.float32),
                                   rtol=5e-2, atol=5e-2)


@pytest.mark.parametrize("implementation", [None, "xla"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_which_models_run_our_kernel(variant, implementation, monkeypatch):
    """Model 4 runs our kernel on both halves at attention dropout 0; Models 1-3 only with
    implementation 'xla' (Model 2: spatial and temporal layer; Model 3: space and time), Flax's
    otherwise. With attention dropout, while training, Flax's kernel runs (it has the dropout)."""
    calls = []
    kernel = attention._heads_major_attention

    def counted(*args):
        calls.append(args[0].shape)
        return kernel(*args)

    monkeypatch.setattr(attention, "_heads_major_attention", counted)
    clip = jnp.zeros(CLIP_SHAPE)
    ours = {"spacetime": 1, "factorized_encoder": 2, "factorized_self_attention_block": 2,
            "factorized_dot_product_attention": 2}[variant]
    if implementation is None and variant != "factorized_dot_product_attention":
        ours = 0
    for dropout, count in ((0.0, ours), (0.1, 0)):
        calls.clear()
        config = tiny_config(variant, attention_dropout_rate=dropout)
        config.model.attention_config.implementation = implementation
        model = model_of(config)
        jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), clip, train=True))
        assert len(calls) == count, (variant, dropout, calls)


def _reference_products(lhs, rhs, d_out):
    """The bfloat16 operands' exact float32 products: output and both gradients."""
    a, b, g = (np.asarray(t, np.float32) for t in (lhs, rhs, d_out))
    return a @ b, g @ b.T, a.T @ g


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_float32_summed_matmul_values_and_gradients(dtype):
    """Low-precision operands, sums in float32, each result rounded once to the operands' dtype:
    forward and both gradients agree with float32 products of the same operands."""
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    lhs = jax.random.normal(keys[0], (37, 300), dtype)
    rhs = jax.random.normal(keys[1], (300, 19), dtype)
    d_out = jax.random.normal(keys[2], (37, 19), dtype)
    out, vjp = jax.vjp(attention.float32_summed_matmul, lhs, rhs)
    d_lhs, d_rhs = vjp(d_out)
    assert (out.dtype, d_lhs.dtype, d_rhs.dtype) == (dtype, dtype, dtype)
    for got, expected in zip((out, d_lhs, d_rhs), _reference_products(lhs, rhs, d_out)):
        # One rounding of a float32 sum: within half a unit in the last place of the dtype.
        np.testing.assert_allclose(np.asarray(got, np.float32), expected,
                                   rtol=float(jnp.finfo(dtype).eps), atol=1e-2)


def _dots(hlo_text):
    """(operand types, result type) of every dot_general in lowered StableHLO text."""
    return re.findall(r"stablehlo\.dot_general[^\n]*: \((tensor<[^>]*>), (tensor<[^>]*>)\) -> "
                      r"(tensor<[^>]*>)", hlo_text)


def test_bfloat16_projections_ask_for_float32_sums_forward_and_backward():
    """The q/k/v/out and MLP products of a bfloat16 model: bfloat16 operands and float32 sums in
    the forward pass and in both gradient products (XLA's CPU backend only then uses bfloat16
    matrix instructions); float32 models are left as they were."""
    x = jnp.ones((2, 5, 16), jnp.bfloat16)
    w = jnp.ones((16, 4, 8), jnp.bfloat16)
    numbers = (((2,), (0,)), ((), ()))

    def loss(x, w):
        return jnp.sum(attention.matrix_dot_general(x, w, numbers).astype(jnp.float32))

    dots = _dots(jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(x, w).as_text())
    assert len(dots) == 3, dots  # forward, input gradient, weight gradient
    for lhs_type, rhs_type, result_type in dots:
        assert lhs_type.endswith("xbf16>") and rhs_type.endswith("xbf16>"), dots
        assert result_type.endswith("xf32>"), dots
    float32_dots = _dots(jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(
        x.astype(jnp.float32), w.astype(jnp.float32)).as_text())
    assert len(float32_dots) == 3
    assert all(all(t.endswith("xf32>") for t in dot) for dot in float32_dots)


def test_the_mlp_multiplies_with_float32_sums_in_bfloat16():
    from vivit.models.layers import MlpBlock

    block = MlpBlock(mlp_dim=32, dtype=jnp.bfloat16)
    x = jnp.ones((2, 5, 16), jnp.float32)
    params = block.init(jax.random.PRNGKey(0), x, deterministic=True)
    text = jax.jit(lambda p: block.apply(p, x, deterministic=True)).lower(params).as_text()
    dots = _dots(text)
    assert len(dots) == 2 and all(result.endswith("xf32>") for _, _, result in dots), dots
