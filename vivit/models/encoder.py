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

# `model.remat_policy`: what the backward pass keeps of a rematerialised block (the rest is
# recomputed). Names are this project's; values are `jax.checkpoint_policies` (None: nothing).
REMAT_POLICIES: dict[str, Optional[Callable[..., bool]]] = {
    "full": None,  # save nothing: recompute the whole block (least memory)
    "dots": jax.checkpoint_policies.dots_saveable,  # save every matmul output
    # save matmuls without batch dimensions (the projections and MLP), recompute attention
    "dots_no_batch": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}
# Name of the scanned blocks' module (params stacked on a leading layer axis), as big_vision.
SCANNED_BLOCKS = "encoderblock"


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
    remat_policy: str = "full"
    scan_layers: bool = False
    dtype: Dtype = jnp.float32

    def _block(self) -> Callable[..., nn.Module]:
        """The block constructor of this attention type, rematerialised when `remat` is set
        (unrolled layers only; scanned layers rematerialise the scan step)."""
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
        if self.remat and not self.scan_layers:
            # Argument 2 (counting self) is `deterministic`, a Python bool.
            block = nn.remat(block, static_argnums=(2,), policy=REMAT_POLICIES[self.remat_policy])
        return functools.partial(block, **options)

    def _block_kwargs(self) -> dict[str, Any]:
        return dict(mlp_dim=self.size.mlp_dim, num_heads=self.size.num_heads,
                    dropout_rate=self.dropout_rate,
                    attention_dropout_rate=self.attention_dropout_rate, dtype=self.dtype)

    def _droplayer_rates(self) -> list[float]:
        """Stochastic depth rises linearly from 0 (first block) to the set rate (last block)."""
        last = max(self.size.num_layers - 1, 1)
        return [layer / last * self.stochastic_droplayer_rate
                for layer in range(self.size.num_layers)]

    def _scanned_blocks(self, x: jax.Array, train: bool) -> jax.Array:
        """All blocks as one `nn.scan` step compiled once: params [num_layers, ...]."""
        step = _ScanStep
        if self.remat:
            step = nn.remat(step, prevent_cse=False, policy=REMAT_POLICIES[self.remat_policy])
        scanned = nn.scan(
            step,
            variable_axes={"params": 0},
            split_rngs={"params": True, "dropout": True},
            length=self.size.num_layers,
        )
        block = functools.partial(self._block(), **self._block_kwargs())
        rates = None
        if self.stochastic_droplayer_rate > 0.0:
            rates = jnp.asarray(self._droplayer_rates(), jnp.float32)
        x, _ = scanned(block=block, deterministic=not train, name=SCANNED_BLOCKS)(x, rates)
        return x

    @nn.compact
    def __call__(self, tokens: jax.Array, *, train: bool) -> jax.Array:
        x = AddPositionEmbs(name="posembed_input")(tokens)
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=not train)
        batch, num_tokens, features = x.shape
        if get_attention_type(self.attention_type).token_layout == "time_space":
            x = x.reshape(batch, self.temporal_dims, num_tokens // self.temporal_dims, features)

        if self.scan_layers:
            x = self._scanned_blocks(x, train)
        else:
            block = self._block()
            for layer, droplayer_p in enumerate(self._droplayer_rates()):
                x = block(droplayer_p=droplayer_p, name=f"encoderblock_{layer}",
                          **self._block_kwargs())(x, not train)

        x = x.reshape(batch, num_tokens, features)
        return nn.LayerNorm(name="encoder_norm")(x)


class _ScanStep(nn.Module):
    """One encoder block as the body of `nn.scan`: the carry is the tokens, the scanned input
    the block's stochastic-depth rate (None when stochastic depth is off). The block shares this
    module's scope, so the stacked params read `encoderblock/LayerNorm_0/...` like a block's."""

    block: Callable[..., nn.Module]  # the block class with everything but droplayer_p bound
    deterministic: bool

    @nn.compact
    def __call__(self, x: jax.Array, droplayer_p: Optional[jax.Array]) -> tuple[jax.Array, None]:
        block = self.block(droplayer_p=0.0 if droplayer_p is None else droplayer_p)
        nn.share_scope(self, block)
        return block(x, self.deterministic), None
