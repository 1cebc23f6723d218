"""Transformer building blocks shared by every ViViT variant: MLP, stochastic depth, encoder blocks.

Module names follow Scenic's ViViT (`LayerNorm_0`, `MultiHeadDotProductAttention_0`, `MlpBlock_0`,
`..._space`/`..._time` in Model 3), so Scenic checkpoints load without renaming.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from vivit.models.attention import AttentionFn, heads_major_pv, heads_major_qk, matrix_dot_general

Dtype = Any

ATTENTION_KERNEL_INITIALIZERS = {
    "xavier": nn.initializers.xavier_uniform(),
    "zero": nn.initializers.zeros,
}


class MlpBlock(nn.Module):
    """Dense -> GELU -> dropout -> Dense -> dropout (ViT's feed-forward block)."""

    mlp_dim: int
    dropout_rate: float = 0.0
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, inputs: jax.Array, *, deterministic: bool) -> jax.Array:
        dense = functools.partial(
            nn.Dense,
            dtype=self.dtype,
            dot_general=matrix_dot_general,
            kernel_init=nn.initializers.xavier_uniform(),
            bias_init=nn.initializers.normal(stddev=1e-6),
        )
        x = dense(self.mlp_dim)(inputs)
        x = nn.gelu(x)
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)
        x = dense(inputs.shape[-1])(x)
        return nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)


class StochasticDepth(nn.Module):
    """Drops a whole residual branch per example with probability `rate` (timm-style scaling).

    Kept branches are scaled by 1 / (1 - rate) so the expected output is unchanged and nothing needs
    rescaling at test time. Has no parameters.
    """

    rate: float

    @nn.compact
    def __call__(self, branch: jax.Array, *, deterministic: bool) -> jax.Array:
        # The rate is traced (a jax.Array) when the blocks run under nn.scan.
        if deterministic or (isinstance(self.rate, (int, float)) and self.rate == 0.0):
            return branch
        keep_prob = 1.0 - self.rate
        shape = (branch.shape[0],) + (1,) * (branch.ndim - 1)
        keep = jax.random.bernoulli(self.make_rng("dropout"), keep_prob, shape)
        return branch * keep.astype(branch.dtype) / jnp.asarray(keep_prob, branch.dtype)


def _self_attention(num_heads: int, dropout_rate: float, dtype: Dtype,
                    kernel_init: Callable[..., jax.Array],
                    attention_fn: Optional[AttentionFn], name: Optional[str] = None) -> nn.Module:
    extra = {} if attention_fn is None else {"attention_fn": attention_fn}
    return nn.MultiHeadDotProductAttention(
        num_heads=num_heads,
        kernel_init=kernel_init,
        broadcast_dropout=False,
        dropout_rate=dropout_rate,
        qkv_dot_general=matrix_dot_general,
        out_dot_general=matrix_dot_general,
        qk_attn_weights_einsum_cls=heads_major_qk,
        attn_weights_value_einsum_cls=heads_major_pv,
        dtype=dtype,
        name=name,
        **extra,
    )


class EncoderBlock(nn.Module):
    """Pre-LN transformer block: x + MHA(LN(x)), then x + MLP(LN(x)).

    Attention runs over the token axis (-2) of any [..., tokens, features] input; Model 4 passes
    [batch, time, space, features] with a factorized `attention_fn` instead.
    """

    mlp_dim: int
    num_heads: int
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    droplayer_p: float = 0.0
    attention_fn: Optional[AttentionFn] = None
    dtype: Dtype = jnp.float32

    @nn.compact
    def __call__(self, inputs: jax.Array, deterministic: bool) -> jax.Array:
        x = nn.LayerNorm(dtype=self.dtype)(inputs)
        x = _self_attention(
            self.num_heads, self.attention_dropout_rate, self.dtype,
            nn.initializers.xavier_uniform(), self.attention_fn,
        )(x, x, deterministic=deterministic)
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic)
        x = inputs + StochasticDepth(self.droplayer_p)(x, deterministic=deterministic)

        y = nn.LayerNorm(dtype=self.dtype)(x)
        y = MlpBlock(self.mlp_dim, self.dropout_rate, self.dtype)(y, deterministic=deterministic)
        return x + StochasticDepth(self.droplayer_p)(y, deterministic=deterministic)


class FactorizedSelfAttentionBlock(nn.Module):
    """Model 3: attention over space and over time in turn (each with its own LN and residual),
    then the MLP. Input and output are [batch, time, space, features]."""

    mlp_dim: int
    num_heads: int
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    droplayer_p: float = 0.0
    attention_order: str = "space_time"
    attention_kernel_init_method: str = "xavier"
    attention_fn: Optional[AttentionFn] = None
    dtype: Dtype = jnp.float32

    def _attend(self, x: jax.Array, axis_name: str, deterministic: bool) -> jax.Array:
        # Attention runs over axis -2, so time attention swaps time next to the features.
        tokens = jnp.swapaxes(x, 1, 2) if axis_name == "time" else x
        y = nn.LayerNorm(dtype=self.dtype, name=f"LayerNorm_{axis_name}")(tokens)
        y = _self_attention(
            self.num_heads, self.attention_dropout_rate, self.dtype,
            ATTENTION_KERNEL_INITIALIZERS[self.attention_kernel_init_method], self.attention_fn,
            name=f"MultiHeadDotProductAttention_{axis_name}",
        )(y, y, deterministic=deterministic)
        y = nn.Dropout(rate=self.dropout_rate)(y, deterministic)
        y = StochasticDepth(self.droplayer_p)(y, deterministic=deterministic)
        if axis_name == "time":
            y = jnp.swapaxes(y, 1, 2)
        return x + y

    @nn.compact
    def __call__(self, inputs: jax.Array, deterministic: bool) -> jax.Array:
        x = inputs  # [batch, time, space, features]
        for axis_name in self.attention_order.split("_"):
            x = self._attend(x, axis_name, deterministic)
        y = nn.LayerNorm(dtype=self.dtype, name="LayerNorm_mlp")(x)
        y = MlpBlock(self.mlp_dim, self.dropout_rate, self.dtype, name="MlpBlock")(
            y, deterministic=deterministic
        )
        return x + StochasticDepth(self.droplayer_p)(y, deterministic=deterministic)
