"""The spatial backbones of the factorized encoder (Model 2): one registry entry per backbone.

Model 2 encodes each frame on its own, then mixes the frames in time. The per-frame encoder is the
backbone (`model.spatial_transformer.backbone`): 'vit', or a CvT ('cvt-13', 'cvt-21', 'cvt-w24',
and 'cvt-tiny', 'cvt-tiny-1stage' for demos and tests). An entry is a function called inside `FactorizedEncoderViViT`,
so the parameters it creates keep the model's (Scenic's) names. ViT takes the frames after the
model's patch embedding; an entry with `takes_pixels=True` (CvT, which embeds pixels with its own
convolutions) takes raw pixels instead, and the model creates no patch embedding: one frame each
when the tubelet's time size (`model.patches.size[2]`) is 1, else tubelets of that many frames
[t, height, width, 3], so a per-frame encoder can see motion as ViViT's tubelets do.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn
import jax

from vivit.models.cvt import CVT_VARIANTS, CvTEncoder
from vivit.registry import Registry

# (model, frames, train) -> [batch * time, features]; frames are [batch * time, grid_h, grid_w,
# hidden] after the patch embedding; when takes_pixels, [batch * time, height, width, 3] or tubelets
# [batch * time, t, height, width, 3].
EncodeFrames = Callable[[Any, jax.Array, bool], jax.Array]


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One value of `model.spatial_transformer.backbone`.

    encode_frames: called from `FactorizedEncoderViViT.__call__` (the model is its first
      argument, so `model.param` and submodules land in the model's parameter tree).
    takes_pixels: the entry embeds raw frames itself (no tubelet/patch embedding before it).
    """

    encode_frames: EncodeFrames
    takes_pixels: bool = False


BACKBONES: Registry[Backbone] = Registry(
    "Backbone",
    "model.spatial_transformer.backbone={name!r} is not supported; expected one of {known}.")


register_backbone = BACKBONES.register  # Makes a name a valid spatial_transformer.backbone.
get_backbone = BACKBONES.lookup


def _vit_frames(model: Any, frames: jax.Array, train: bool) -> jax.Array:
    """ViT: the frame's patches (and a class token `cls_SpatialTransformer`) through the
    transformer `SpatialTransformer`, pooled by `model.classifier`."""
    tokens = frames.reshape(frames.shape[0], -1, frames.shape[-1])  # [batch * time, tokens, hidden]
    return model.encode_and_pool(tokens, model.spatial_size, "SpatialTransformer", train)


register_backbone("vit", Backbone(encode_frames=_vit_frames))


def _cvt_frames(variant: str) -> EncodeFrames:
    """CvT `variant`: raw frames through `CvT` (a `CvTEncoder`), then, if its width differs from
    `model.hidden_size`, the Dense `CvT_to_hidden` so the temporal transformer keeps its width."""

    def encode(model: Any, frames: jax.Array, train: bool) -> jax.Array:
        features = CvTEncoder(CVT_VARIANTS[variant], model.dropout_rate,
                              model.attention_dropout_rate, model.kernel_init_method,
                              name="CvT")(frames, train)
        if features.shape[-1] != model.hidden_size:
            features = nn.Dense(model.hidden_size, name="CvT_to_hidden")(features)
        return features  # [batch * time, hidden]

    return encode


for _variant in CVT_VARIANTS:
    register_backbone(_variant, Backbone(encode_frames=_cvt_frames(_variant), takes_pixels=True))
