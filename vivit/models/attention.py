"""Attention kernels plugged into `nn.MultiHeadDotProductAttention(attention_fn=...)`.

The projections (query/key/value/out) stay Flax's, so every variant keeps Scenic's parameter names;
only the function that mixes tokens changes, and how the projections' products are laid out
(`matrix_dot_general`).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

AttentionFn = Callable[..., jax.Array]


def matrix_dot_general(lhs: jax.Array, rhs: jax.Array, dimension_numbers: Any,
                       precision: Any = None, preferred_element_type: Any = None) -> jax.Array:
    """`lax.dot_general` for Flax's q/k/v/out projections, done as one matrix product.

    The projections contract the trailing axes of the tokens with the leading axes of a kernel
    ([D, heads, head_dim] for q/k/v, [heads, head_dim, D] for out). Flattening both sides to
    matrices first (reshapes that are free) computes the same sums, but XLA then lays the
    product out without transposing every kernel and its gradient in each step: the
    fwd+bwd of twelve ViT-B blocks ran 7% faster on CPU. Any other contraction is passed on.
    Two bfloat16 (or float16) operands are multiplied with float32 sums
    (`float32_summed_matmul`), forward and backward.
    """
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dimension_numbers
    n = len(lhs_contract)
    trailing = tuple(lhs_contract) == tuple(range(lhs.ndim - n, lhs.ndim))
    leading = tuple(rhs_contract) == tuple(range(n))
    if lhs_batch or rhs_batch or not (trailing and leading):
        return jax.lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                                   preferred_element_type=preferred_element_type)
    free_lhs, free_rhs = lhs.shape[:lhs.ndim - n], rhs.shape[n:]
    size = math.prod(rhs.shape[:n])
    lhs_matrix = lhs.reshape((math.prod(free_lhs), size))
    rhs_matrix = rhs.reshape((size, math.prod(free_rhs)))
    if preferred_element_type is None and lhs.dtype == rhs.dtype and lhs.dtype in LOW_PRECISION:
        product = float32_summed_matmul(lhs_matrix, rhs_matrix, precision)
    else:
        product = jax.lax.dot_general(lhs_matrix, rhs_matrix, (((1,), (0,)), ((), ())),
                                      precision=precision,
                                      preferred_element_type=preferred_element_type)
    return product.reshape(free_lhs + free_rhs)


LOW_PRECISION = (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))


def _summed_in_float32(lhs: jax.Array, rhs: jax.Array, precision: Any) -> jax.Array:
    return jax.lax.dot_general(lhs, rhs, (((1,), (0,)), ((), ())), precision=precision,
                               preferred_element_type=jnp.float32)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def float32_summed_matmul(lhs: jax.Array, rhs: jax.Array, precision: Any = None) -> jax.Array:
    """[m, k] @ [k, n] of bfloat16 (or float16) matrices, summed in float32, rounded once.

    TPUs and GPUs sum low-precision products in float32 anyway. XLA's CPU backend instead
    converts both operands to float32 and multiplies them there, unless the product asks for
    float32 sums: only then does it use a CPU's bfloat16 matrix instructions (2-4.6x faster
    on an AMX Xeon, docs/cpu_performance.md).
    The backward pass asks the same of its two products (autodiff of the float32-summed
    product would give them float32 cotangents). In a whole ViViT-B train step XLA's CPU
    backend still converts those two products' operands to float32 (the compiled HLO shows
    it); other compilers need not.
    """
    return _summed_in_float32(lhs, rhs, precision).astype(lhs.dtype)


def _float32_summed_forward(lhs: jax.Array, rhs: jax.Array, precision: Any
                            ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    return float32_summed_matmul(lhs, rhs, precision), (lhs, rhs)


def _float32_summed_backward(precision: Any, residuals: tuple[jax.Array, jax.Array],
                             d_out: jax.Array) -> tuple[jax.Array, jax.Array]:
    lhs, rhs = residuals
    d_out = d_out.astype(lhs.dtype)
    d_lhs = _summed_in_float32(d_out, rhs.T, precision).astype(lhs.dtype)
    d_rhs = _summed_in_float32(lhs.T, d_out, precision).astype(rhs.dtype)
    return d_lhs, d_rhs


float32_summed_matmul.defvjp(_float32_summed_forward, _float32_summed_backward)


# The two products inside Flax's `nn.dot_product_attention`, with the subscripts it calls them with.
_QK = "...qhd,...khd->...hqk"
_PV = "...hqk,...khd->...qhd"


def _heads_major_qk(subscripts: str, query: jax.Array, key: jax.Array, **kwargs: Any) -> jax.Array:
    if subscripts != _QK:
        return jnp.einsum(subscripts, query, key, **kwargs)
    query, key = (jnp.swapaxes(t, -3, -2) for t in (query, key))  # [..., heads, tokens, d]
    return jnp.einsum("...hqd,...hkd->...hqk", query, key, **kwargs)


def _heads_major_pv(subscripts: str, weights: jax.Array, value: jax.Array,
                    **kwargs: Any) -> jax.Array:
    if subscripts != _PV:
        return jnp.einsum(subscripts, weights, value, **kwargs)
    out = jnp.einsum("...hqk,...hkd->...hqd", weights, jnp.swapaxes(value, -3, -2), **kwargs)
    return jnp.swapaxes(out, -3, -2)


def heads_major_qk() -> Callable[..., jax.Array]:
    """Flax's query-key product computed with heads before tokens (`qk_attn_weights_einsum_cls`).

    Flax contracts [..., tokens, heads, head_dim] arrays directly; XLA's CPU backend then lays
    out the batched products with transposes inside the attention kernel, and it ran at half
    speed (ViT-B attention over 197 tokens, float32: 4.3 ms against 2.2 ms forward, 8.3 against
    6.1 ms forward+backward; docs/cpu_performance.md). Moving the heads axis first outside the
    product computes the same sums with the batch axes leading; softmax, masks and dropout stay Flax's.
    """
    return _heads_major_qk


def heads_major_pv() -> Callable[..., jax.Array]:
    """The weights-value product to go with `heads_major_qk` (`attn_weights_value_einsum_cls`)."""
    return _heads_major_pv


def _logit_scale(query: jax.Array) -> jax.Array:
    """1/sqrt(head_dim), float32: the forward pass scales the logits by it, the backward pass
    their gradient."""
    return jnp.float32(1.0 / math.sqrt(query.shape[-1]))


def _attention_forward(query: jax.Array, key: jax.Array, value: jax.Array,
                       mask: Optional[jax.Array]) -> tuple[jax.Array, tuple[Any, ...]]:
    """Heads-major attention with float32 logits and softmax, normalised after the product.

    Dividing the [.., q, d] output by each row's sum, instead of the [.., q, k] weights, is one
    pass over the weights fewer; the unnormalised weights and row sums are what the backward
    pass needs, so they are its residuals (the memory the weights cost anyway).
    """
    logits = jnp.einsum("...hqd,...hkd->...hqk", query, key,
                        preferred_element_type=jnp.float32)
    logits = logits * _logit_scale(query)
    if mask is not None:  # [..., heads or 1, q_tokens, kv_tokens], True = attend
        logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
    unnormalised = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))
    row_sums = jnp.sum(unnormalised, axis=-1, keepdims=True)
    weights = unnormalised.astype(value.dtype)
    out = jnp.einsum("...hqk,...hkd->...hqd", weights, value,
                     preferred_element_type=jnp.float32) / row_sums
    out = out.astype(value.dtype)
    return out, (query, key, value, mask, weights, row_sums, out)


def _attention_backward(residuals: tuple[Any, ...],
                        d_out: jax.Array) -> tuple[Any, ...]:
    """Softmax attention's gradients from the saved unnormalised weights. Each row's division
    goes to a [.., q, d] operand (d_out for the value gradient) or into the one elementwise pass
    that needs d_out anyway, so no normalised copy of the weights is made. The softmax's row
    term is d_out . out, a [.., q, d] product, not a second pass over the weights."""
    query, key, value, mask, weights, row_sums, out = residuals
    f32 = jnp.float32
    d_value = jnp.einsum("...hqk,...hqd->...hkd", weights,
                         (d_out.astype(f32) / row_sums).astype(value.dtype),
                         preferred_element_type=f32).astype(value.dtype)
    d_probabilities = jnp.einsum("...hqd,...hkd->...hqk", d_out, value,
                                 preferred_element_type=f32)
    row_term = jnp.sum(d_out.astype(f32) * out.astype(f32), axis=-1, keepdims=True)
    d_logits = weights.astype(f32) * ((d_probabilities - row_term)
                                      * (_logit_scale(query) / row_sums))
    if mask is not None:  # masked logits are constants: no gradient, also in all-masked rows
        d_logits = jnp.where(mask, d_logits, 0.0)
    d_logits = d_logits.astype(query.dtype)
    d_query = jnp.einsum("...hqk,...hkd->...hqd", d_logits, key,
                         preferred_element_type=f32).astype(query.dtype)
    d_key = jnp.einsum("...hqk,...hqd->...hkd", d_logits, query,
                       preferred_element_type=f32).astype(key.dtype)
    return d_query, d_key, d_value, None


@jax.custom_vjp
def _heads_major_attention(query: jax.Array, key: jax.Array, value: jax.Array,
                           mask: Optional[jax.Array]) -> jax.Array:
    return _attention_forward(query, key, value, mask)[0]


_heads_major_attention.defvjp(_attention_forward, _attention_backward)


def _float32_softmax_attention(query: jax.Array, key: jax.Array, value: jax.Array,
                               mask: Optional[jax.Array]) -> jax.Array:
    """What `jax.nn.dot_product_attention`'s XLA implementation computes (float32 logits and
    softmax, scale applied to the logits), with the heads axis moved first for the products and
    the softmax's division moved after them (`_attention_forward`)."""
    query, key, value = (jnp.swapaxes(t, -3, -2) for t in (query, key, value))
    return jnp.swapaxes(_heads_major_attention(query, key, value, mask), -3, -2)


def dot_product_attention(query: jax.Array, key: jax.Array, value: jax.Array,
                          mask: Optional[jax.Array] = None,
                          implementation: Optional[str] = None) -> jax.Array:
    """`jax.nn.dot_product_attention` over axis -3 of [..., tokens, heads, head_dim] arrays.

    Logits and softmax are float32 for every input dtype, so bfloat16 activations train without
    loss scaling. Implementation None or 'xla' computes what jax's XLA implementation computes,
    but with the heads axis first in the products (see `heads_major_qk`) and its own backward
    pass (`_attention_backward`); other implementations
    ('cudnn') go to jax's function, whose one batch axis the leading axes (e.g. Model 3's
    [batch, space]) are folded into, a reshape, not a copy.
    """
    if implementation in (None, "xla"):
        return _float32_softmax_attention(query, key, value, mask)
    leading = query.shape[:-3]
    fold = lambda t: t.reshape((-1,) + t.shape[-3:])
    if mask is not None:
        mask = fold(jnp.broadcast_to(mask, leading + mask.shape[-3:]))
    out = jax.nn.dot_product_attention(fold(query), fold(key), fold(value), mask=mask,
                                       implementation=implementation)
    return out.reshape(query.shape[:-1] + value.shape[-1:])


def fused_attention_fn(implementation: Optional[str]) -> AttentionFn:
    """`dot_product_attention` with a chosen kernel (None/'xla' or 'cudnn' on GPU).

    It has no attention dropout, so it is only used when `attention_dropout_rate` is 0.
    """

    def attention(query: jax.Array, key: jax.Array, value: jax.Array,
                  mask: Optional[jax.Array] = None) -> jax.Array:
        return dot_product_attention(query, key, value, mask, implementation)

    return attention


def _attend_over_axis(query: jax.Array, key: jax.Array, value: jax.Array, axis: int,
                      dropout: bool, **kwargs: Any) -> jax.Array:
    """Attention over one token axis of [batch, time, space, heads, head_dim] arrays; Flax's
    kernel when attention dropout is active (jax's has none), else `dot_product_attention`."""
    moved = [jnp.moveaxis(t, axis, 2) for t in (query, key, value)]  # [b, other, axis, h, d]
    if dropout:
        out = nn.dot_product_attention(*moved, **kwargs)
    else:
        out = dot_product_attention(*moved)
    return jnp.moveaxis(out, 2, axis)


def factorized_dot_product_attention(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    dropout_rng: Optional[jax.Array] = None,
    dropout_rate: float = 0.0,
    broadcast_dropout: bool = True,
    deterministic: bool = True,
    dtype: Any = None,
    precision: Any = None,
) -> jax.Array:
    """Model 4: the first half of the heads attends over time, the second half over space.

    Inputs are [batch, time, space, heads, head_dim] (the encoder reshapes tokens to that), so one
    set of Q/K/V/O projections serves both halves and the model has Model 1's parameters. Without
    attention dropout both halves run through `dot_product_attention` (float32 softmax).
    """
    if query.ndim != 5:
        raise ValueError(
            "factorized_dot_product_attention expects [batch, time, space, heads, head_dim] "
            f"inputs, got shape {query.shape}."
        )
    num_heads = query.shape[-2]
    half = num_heads // 2
    dropout = not deterministic and dropout_rate > 0.0
    outputs = []
    for index, (axis, heads) in enumerate(((1, slice(0, half)), (2, slice(half, num_heads)))):
        rng = None if dropout_rng is None else jax.random.fold_in(dropout_rng, index)
        outputs.append(
            _attend_over_axis(
                query[..., heads, :], key[..., heads, :], value[..., heads, :], axis, dropout,
                dropout_rng=rng, dropout_rate=dropout_rate,
                broadcast_dropout=broadcast_dropout, deterministic=deterministic,
                dtype=dtype, precision=precision,
            )
        )
    return jnp.concatenate(outputs, axis=-2)
