"""The ViViT models: Models 1, 3 and 4 share one encoder over all tokens (`ViViT`); Model 2 runs a
spatial ViT per frame, then a temporal transformer (`FactorizedEncoderViViT`).

Parameter names match Scenic's `scenic/projects/vivit/model.py`.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from vivit.models.backbones import get_backbone
from vivit.models.embeddings import (frame_sampling_embedding, sample_frames_uniformly,
                                     tubelet_embedding)
from vivit.models.encoder import Encoder, TransformerSize

Dtype = Any
POOLING = {"gap": jnp.mean, "gmp": jnp.max, "gsp": jnp.sum}


def pool_tokens(tokens: jax.Array, classifier: str) -> jax.Array:
    """[batch, tokens, features] -> [batch, features]: the class token, or a pool over tokens."""
    if classifier in ("token", "0"):
        return tokens[:, 0]
    return POOLING[classifier](tokens, axis=1)


class _VideoClassifier(nn.Module):
    """What every variant shares: tokenisation, class tokens, the head and the common options."""

    num_classes: int = 400
    hidden_size: int = 768
    patch_size: Sequence[int] = (16, 16, 2)
    tokenizer: str = "3d_conv"
    kernel_init_method: Optional[str] = "central_frame_initializer"
    num_sampled_frames: Optional[int] = None
    classifier: str = "token"
    representation_size: Optional[int] = None
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    stochastic_droplayer_rate: float = 0.0
    attention_implementation: Optional[str] = None
    return_prelogits: bool = False
    remat: bool = False
    remat_policy: str = "full"
    scan_layers: bool = False
    dtype: Dtype = jnp.float32

    def _tokenize(self, video: jax.Array) -> jax.Array:
        """[batch, time, height, width, 3] -> [batch, time', grid_h, grid_w, hidden_size]."""
        video = video.astype(self.dtype)
        if self.tokenizer == "temporal_sampling":
            return frame_sampling_embedding(
                video, self.hidden_size, self.patch_size, self.num_sampled_frames, self.dtype
            )
        return tubelet_embedding(
            video, self.hidden_size, self.patch_size, self.kernel_init_method, self.dtype
        )

    def _prepend_class_token(self, tokens: jax.Array, name: str) -> jax.Array:
        if self.classifier not in ("token", "0"):
            return tokens
        cls = self.param(name, nn.initializers.zeros, (1, 1, tokens.shape[-1]), jnp.float32)
        cls = jnp.broadcast_to(cls.astype(tokens.dtype), (tokens.shape[0], 1, tokens.shape[-1]))
        return jnp.concatenate([cls, tokens], axis=1)

    def _encoder(self, size: TransformerSize, name: str, **kwargs: Any) -> Encoder:
        return Encoder(
            size=size,
            attention_implementation=self.attention_implementation,
            dropout_rate=self.dropout_rate,
            attention_dropout_rate=self.attention_dropout_rate,
            stochastic_droplayer_rate=self.stochastic_droplayer_rate,
            remat=self.remat,
            remat_policy=self.remat_policy,
            scan_layers=self.scan_layers,
            dtype=self.dtype,
            name=name,
            **kwargs,
        )

    def _head(self, representation: jax.Array) -> jax.Array:
        """Optional `pre_logits` (Dense + tanh), then the zero-initialized `output_projection`."""
        if self.representation_size is not None:
            representation = nn.tanh(
                nn.Dense(self.representation_size, dtype=self.dtype, name="pre_logits")(
                    representation
                )
            )
        if self.return_prelogits:
            return representation.astype(jnp.float32)
        logits = nn.Dense(
            self.num_classes,
            kernel_init=nn.initializers.zeros,
            dtype=self.dtype,
            name="output_projection",
        )(representation)
        return logits.astype(jnp.float32)


class ViViT(_VideoClassifier):
    """Models 1, 3 and 4: one encoder `Transformer` over all space-time tokens; the attention type
    decides how tokens attend (jointly, space then time per block, or half the heads each)."""

    size: TransformerSize = TransformerSize(12, 12, 3072)
    attention_type: str = "spacetime"
    attention_order: str = "space_time"
    attention_kernel_init_method: str = "xavier"
    return_preclassifier: bool = False

    @nn.compact
    def __call__(self, video: jax.Array, train: bool = False) -> jax.Array:
        grid = self._tokenize(video)  # [batch, time', grid_h, grid_w, hidden]
        batch, temporal_dims = grid.shape[:2]
        tokens = grid.reshape(batch, -1, grid.shape[-1])  # time-major
        tokens = self._prepend_class_token(tokens, "cls")
        tokens = self._encoder(
            self.size,
            "Transformer",
            attention_type=self.attention_type,
            temporal_dims=temporal_dims,
            attention_order=self.attention_order,
            attention_kernel_init_method=self.attention_kernel_init_method,
        )(tokens, train=train)
        if self.return_preclassifier:
            return tokens
        return self._head(pool_tokens(tokens, self.classifier))


class FactorizedEncoderViViT(_VideoClassifier):
    """Model 2: the spatial backbone (ViT: `SpatialTransformer`) encodes each frame (weights shared
    over time) into one vector per frame, then `TemporalTransformer` (or, for the baseline, a mean) mixes the frames."""

    spatial_size: TransformerSize = TransformerSize(12, 12, 3072)
    temporal_size: TransformerSize = TransformerSize(4, 12, 3072)
    attention_type: str = "factorized_encoder"  # the blocks of both encoders
    spatial_backbone: str = "vit"  # a key of vivit.models.backbones.BACKBONES
    spatial_only_baseline: bool = False

    def encode_and_pool(self, tokens: jax.Array, size: TransformerSize, name: str,
                        train: bool) -> jax.Array:
        """Tokens [batch, tokens, hidden] -> [batch, hidden] through the transformer `name`."""
        tokens = self._prepend_class_token(tokens, f"cls_{name}")
        tokens = self._encoder(size, name, attention_type=self.attention_type)(
            tokens, train=train
        )
        return pool_tokens(tokens, self.classifier)

    def _pixel_tubelets(self, video: jax.Array) -> jax.Array:
        """[batch, time, h, w, 3] -> frames [batch, time', h, w, 3] (uniform frame sampling, or
        tubelets of time 1) or tubelets [batch, time / t, t, h, w, 3]."""
        video = video.astype(self.dtype)
        if self.tokenizer == "temporal_sampling":
            return sample_frames_uniformly(video, self.num_sampled_frames)
        time = self.patch_size[2]
        if time == 1:
            return video
        if video.shape[1] % time:
            raise ValueError(
                f"A clip of {video.shape[1]} frames does not split into tubelets of "
                f"model.patches.size[2]={time} frames; use a multiple of it for "
                "dataset_configs.num_frames.")
        return video.reshape(
            video.shape[0], video.shape[1] // time, time, *video.shape[2:])

    @nn.compact
    def __call__(self, video: jax.Array, train: bool = False) -> jax.Array:
        backbone = get_backbone(self.spatial_backbone)
        # [batch, time', (t,) height, width, 3] for a backbone that embeds pixels itself (frames,
        # or tubelets of t frames), else the patch embedding's [batch, time', grid_h, grid_w, hidden].
        grid = self._pixel_tubelets(video) if backbone.takes_pixels else self._tokenize(video)
        batch, time = grid.shape[:2]
        # Frames become batch entries, so one set of spatial weights serves every frame.
        frame_grids = grid.reshape(batch * time, *grid.shape[2:])  # [batch * time', h, w, c]
        frames = backbone.encode_frames(self, frame_grids, train)
        frames = frames.reshape(batch, time, -1)  # [batch, time', features]
        if self.spatial_only_baseline:
            representation = jnp.mean(frames, axis=1)
        else:
            representation = self.encode_and_pool(
                frames, self.temporal_size, "TemporalTransformer", train
            )
        return self._head(representation)
