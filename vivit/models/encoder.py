"""The transformer encoder (positional embedding, blocks, final norm) for every attention type."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from vivit.models.attention import fused_attention_fn
from vivit.models.attention_types import BlockOptions, get_attention_type
from vivit.models.embeddings import AddPositionEmbs

Dtype = Any


@dataclasses.dataclass(frozen=True)
class TransformerSize:
    """Depth and widths of one transformer encoder."""

    num_layers: int
    num_heads: int
    mlp_dim: int


class Encoder(nn.Module):
    """Adds `posembed_input`, runs `encoderblock_{i}` and normalizes with `encoder_norm`.

    Takes and returns tokens [batch, tokens, features]. For attention types whose blocks see
    tokens as [batch, time, space, features] (Models 3 and 4) the tokens are time-major and
    `temporal_dims` says how many time steps they span.
    """

    size: TransformerSize
    attention_type: str = "spacetime"
    temporal_dims: Optional[int] = None
    attention_order: str = "space_time"
    attention_kernel_init_method: str = "xavier"
    attention_implementation: Optional[str] = None
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    stochastic_droplayer_rate: float = 0.0
    remat: bool = False
    dtype: Dtype = jnp.float32

    def _block(self) -> Callable[..., nn.Module]:
        """The block constructor of this attention type, rematerialised when `remat` is set."""
        fused = (
            fused_attention_fn(self.attention_implementation)
            if self.attention_implementation is not None and self.attention_dropout_rate == 0.0
            else None
        )
        block, options = get_attention_type(self.attention_type).block(BlockOptions(
            attention_fn=fused,
            attention_order=self.attention_order,
            attention_kernel_init_method=self.attention_kernel_init_method,
        ))
        if self.remat:
            # Argument 2 (counting self) is `deterministic`, a Python bool.
            block = nn.remat(block, static_argnums=(2,))
        return functools.partial(block, **options)

    @nn.compact
    def __call__(self, tokens: jax.Array, *, train: bool) -> jax.Array:
        x = AddPositionEmbs(name="posembed_input")(tokens)
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=not train)
        batch, num_tokens, features = x.shape
        if get_attention_type(self.attention_type).token_layout == "time_space":
            x = x.reshape(batch, self.temporal_dims, num_tokens // self.temporal_dims, features)

        block = self._block()
        for layer in range(self.size.num_layers):
            droplayer_p = layer / max(self.size.num_layers - 1, 1) * self.stochastic_droplayer_rate
            x = block(
                mlp_dim=self.size.mlp_dim,
                num_heads=self.size.num_heads,
                dropout_rate=self.dropout_rate,
                attention_dropout_rate=self.attention_dropout_rate,
                droplayer_p=droplayer_p,
                dtype=self.dtype,
                name=f"encoderblock_{layer}",
            )(x, not train)

        x = x.reshape(batch, num_tokens, features)
        return nn.LayerNorm(name="encoder_norm")(x)
