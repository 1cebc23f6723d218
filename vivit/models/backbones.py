"""The spatial backbones of the factorised encoder (Model 2): one registry entry per backbone.

Model 2 encodes each frame on its own, then mixes the frames in time. The per-frame encoder is the
backbone (`model.spatial_transformer.backbone`): ViT today. An entry is a function called inside
`FactorisedEncoderViViT`, so the parameters it creates keep the model's (Scenic's) names.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax

# (model, frames [batch * time, grid_h, grid_w, hidden], train) -> [batch * time, features]
EncodeFrames = Callable[[Any, jax.Array, bool], jax.Array]


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One value of `model.spatial_transformer.backbone`.

    encode_frames: called from `FactorisedEncoderViViT.__call__` (the model is its first
      argument, so `model.param` and submodules land in the model's parameter tree).
    """

    encode_frames: EncodeFrames


BACKBONES: dict[str, Backbone] = {}


def register_backbone(name: str, backbone: Backbone) -> Backbone:
    """Makes `name` a valid `model.spatial_transformer.backbone`; returns the entry."""
    if name in BACKBONES:
        raise ValueError(f"Backbone {name!r} is already registered.")
    BACKBONES[name] = backbone
    return backbone


def get_backbone(name: str) -> Backbone:
    """The entry of `name`; ValueError naming the config key and the registered names otherwise."""
    if name not in BACKBONES:
        raise ValueError(f"model.spatial_transformer.backbone={name!r} is not supported; "
                         f"expected one of {tuple(BACKBONES)}.")
    return BACKBONES[name]


def _vit_frames(model: Any, frames: jax.Array, train: bool) -> jax.Array:
    """ViT: the frame's patches (and a class token `cls_SpatialTransformer`) through the
    transformer `SpatialTransformer`, pooled by `model.classifier`."""
    tokens = frames.reshape(frames.shape[0], -1, frames.shape[-1])  # [batch * time, tokens, hidden]
    return model.encode_and_pool(tokens, model.spatial_size, "SpatialTransformer", train)


register_backbone("vit", Backbone(encode_frames=_vit_frames))
