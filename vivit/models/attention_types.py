"""The attention types (`model.attention_config.type`): one registry entry per ViViT variant.

Each entry says everything the rest of the package needs to know about a variant: which block the
encoder stacks, how the block sees the tokens, whether the model may carry a class token, whether
the model is the two-encoder Model 2, and what else the config must satisfy. The encoder, the
builder, FLOP counting and pretrained initialization read the entry instead of comparing names, so
a new attention type is one new module that calls `register_attention_type` (see
docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

import flax.linen as nn
import ml_collections

from vivit.models.attention import AttentionFn, factorized_dot_product_attention
from vivit.models.layers import (
    ATTENTION_KERNEL_INITIALIZERS,
    EncoderBlock,
    FactorizedSelfAttentionBlock,
)
from vivit.registry import Registry

# How a block sees the tokens: "sequence" is [batch, tokens, features] (class token allowed);
# "time_space" is [batch, time, space, features] (tokens must tile time x space exactly).
TOKEN_LAYOUTS = ("sequence", "time_space")
ATTENTION_ORDERS = ("space_time", "time_space")


@dataclasses.dataclass(frozen=True)
class BlockOptions:
    """What an attention type's block may depend on (from `Encoder`'s fields)."""

    attention_fn: Optional[AttentionFn]  # the fused kernel when configured, else Flax's default
    attention_order: str
    attention_kernel_init_method: str


@dataclasses.dataclass(frozen=True)
class AttentionType:
    """One value of `model.attention_config.type`.

    block: BlockOptions -> (block module class, keyword arguments); the encoder adds the sizes,
      rates, dtype and name Scenic uses (`encoderblock_{i}`), so parameter names stay Scenic's.
    token_layout: "sequence" or "time_space" (see TOKEN_LAYOUTS).
    class_token: whether `model.classifier` may be 'token'.
    factorized_encoder: the model is Model 2 (a spatial encoder per frame, then a temporal one);
      its encoders use this type's block over "sequence" tokens.
    check: extra checks of the config, raising ValueError that names the key.
    flops_note: how the attention cost grows, for docs and `python -m vivit.flops`.
    """

    block: Callable[[BlockOptions], tuple[Callable[..., nn.Module], dict[str, Any]]]
    token_layout: str = "sequence"
    class_token: bool = True
    factorized_encoder: bool = False
    check: Optional[Callable[[ml_collections.ConfigDict], None]] = None
    flops_note: str = ""


ATTENTION_TYPES: Registry[AttentionType] = Registry(
    "Attention type",
    "model.attention_config.type={name!r} is not supported; expected one of {known}.")


def register_attention_type(name: str, attention_type: AttentionType) -> AttentionType:
    """Makes `name` a valid `model.attention_config.type`; returns the entry."""
    if attention_type.token_layout not in TOKEN_LAYOUTS:
        raise ValueError(f"token_layout={attention_type.token_layout!r}: expected one of "
                         f"{TOKEN_LAYOUTS}.")
    return ATTENTION_TYPES.register(name, attention_type)


get_attention_type = ATTENTION_TYPES.lookup


def _standard_block(options: BlockOptions) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    return EncoderBlock, dict(attention_fn=options.attention_fn)


def _factorized_self_attention_block(
    options: BlockOptions,
) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    return FactorizedSelfAttentionBlock, dict(
        attention_order=options.attention_order,
        attention_kernel_init_method=options.attention_kernel_init_method,
        attention_fn=options.attention_fn,
    )


def _factorized_dot_product_block(
    options: BlockOptions,
) -> tuple[Callable[..., nn.Module], dict[str, Any]]:
    del options  # Its own kernel splits the heads; the fused kernel does not apply.
    return EncoderBlock, dict(attention_fn=factorized_dot_product_attention)


def _one_of(value: Any, allowed: tuple, key: str) -> None:
    if value not in allowed:
        raise ValueError(f"{key}={value!r} is not supported; expected one of {allowed}.")


def _check_self_attention_block(config: ml_collections.ConfigDict) -> None:
    attention = config.model.attention_config
    _one_of(attention.attention_order, ATTENTION_ORDERS, "model.attention_config.attention_order")
    _one_of(attention.attention_kernel_init_method, tuple(ATTENTION_KERNEL_INITIALIZERS),
            "model.attention_config.attention_kernel_init_method")


def _check_dot_product(config: ml_collections.ConfigDict) -> None:
    num_heads = config.model.num_heads
    if num_heads % 2:
        raise ValueError(
            f"model.num_heads={num_heads} must be even for attention_config.type="
            "'factorized_dot_product_attention' (half the heads attend over space, half over "
            "time).")


def _check_factorized_encoder(config: ml_collections.ConfigDict) -> None:
    if config.model.return_preclassifier:
        raise ValueError(
            "model.return_preclassifier is not available for attention_config.type="
            "'factorized_encoder' (it has no single token sequence); use model.return_prelogits.")


# The paper's four models (Arnab et al. 2021, Section 3.3). N tokens = T' time steps x S patches.
register_attention_type("spacetime", AttentionType(
    block=_standard_block,
    flops_note="Model 1: every token attends to every token, O(N^2) per layer."))
register_attention_type("factorized_encoder", AttentionType(
    block=_standard_block, factorized_encoder=True, check=_check_factorized_encoder,
    flops_note="Model 2: spatial attention per frame, O(T' S^2), then temporal over frames, O(T'^2)."))
register_attention_type("factorized_self_attention_block", AttentionType(
    block=_factorized_self_attention_block, token_layout="time_space", class_token=False,
    check=_check_self_attention_block,
    flops_note="Model 3: each block attends over space, then time, O(T' S^2 + S T'^2)."))
register_attention_type("factorized_dot_product_attention", AttentionType(
    block=_factorized_dot_product_block, token_layout="time_space", class_token=False,
    check=_check_dot_product,
    flops_note="Model 4: half the heads over space, half over time; Model 1's parameters."))
