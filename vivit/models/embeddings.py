"""Turning a video into tokens: tubelet embedding, uniform frame sampling, positional embeddings,
and the rules for building a 3D tubelet kernel from a 2D image kernel (paper Eqs. 8 and 9)."""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Dtype = Any

KERNEL_INIT_METHODS = (
    "central_frame_initializer",
    "average_frame_initializer",
    "average_arp_frame_initializer",
)


def approximate_rank_pooling_weights(length: int) -> np.ndarray:
    """Approximate rank pooling coefficients (Bilen et al., PAMI 2017, Eq. 3), one per frame."""
    frame = np.arange(1, length + 1, dtype=np.float64)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / frame)])  # H_0 .. H_T
    return 2.0 * (length - frame + 1) - (length + 1) * (harmonic[-1] - harmonic[:-1])


def inflate_2d_kernel(kernel_2d: jax.Array, time: int, method: str) -> jax.Array:
    """Builds a [t, h, w, c_in, c_out] tubelet kernel from a [h, w, c_in, c_out] image kernel.

    central_frame_initializer: the image kernel at frame t // 2, zeros elsewhere (paper Eq. 9), so
    a clip of one repeated image gives the image model's patch embedding.
    average_frame_initializer: the image kernel / t on every frame (filter inflation, Eq. 8).
    average_arp_frame_initializer: the image kernel weighted by approximate rank pooling / t.
    """
    if method == "central_frame_initializer":
        kernel = jnp.zeros((time,) + kernel_2d.shape, kernel_2d.dtype)
        return kernel.at[time // 2].set(kernel_2d)
    if method == "average_frame_initializer":
        weights = np.full((time,), 1.0 / time)
    elif method == "average_arp_frame_initializer":
        weights = approximate_rank_pooling_weights(time) / time
    else:
        raise ValueError(
            f"Unknown model.temporal_encoding_config.kernel_init_method {method!r}; "
            f"expected one of {KERNEL_INIT_METHODS}."
        )
    weights = jnp.asarray(weights, kernel_2d.dtype).reshape((time,) + (1,) * kernel_2d.ndim)
    return weights * kernel_2d[None]


def tubelet_kernel_init(method: str | None,
                        base: nn.initializers.Initializer = nn.initializers.lecun_normal()
                        ) -> nn.initializers.Initializer:
    """Fresh-init rule for the tubelet kernel: a random image kernel (drawn by `base`) inflated
    by `method`."""
    if method is None:
        return base

    def init(key: jax.Array, shape: Sequence[int], dtype: Dtype = jnp.float32) -> jax.Array:
        time = shape[0]
        # Fan-in of the image kernel, so the central frame matches a 2D patch embedding.
        return inflate_2d_kernel(base(key, tuple(shape[1:]), dtype), time, method)

    return init


def sample_frames_uniformly(video: jax.Array, num_sampled: int) -> jax.Array:
    """Picks `num_sampled` evenly spaced frames (all frames if the clip is not longer)."""
    num_frames = video.shape[1]
    if num_sampled >= num_frames:
        return video
    step = num_frames / (num_sampled + 1)
    indices = np.minimum(np.round(np.arange(1, num_sampled + 1) * step), num_frames - 1)
    return video[:, indices.astype(np.int32)]


def tubelet_embedding(video: jax.Array, hidden_size: int, patch_size: Sequence[int],
                      kernel_init_method: str | None, dtype: Dtype) -> jax.Array:
    """Non-overlapping tubelets of `patch_size` = (h, w, t) projected by a 3D conv `embedding`.

    Call inside a compact method: the conv joins the caller's scope as `embedding`, Scenic's name.
    [batch, time, height, width, 3] -> [batch, time / t, height / h, width / w, hidden_size].
    """
    height, width, time = patch_size
    return nn.Conv(
        hidden_size,
        (time, height, width),
        strides=(time, height, width),
        padding="VALID",
        kernel_init=tubelet_kernel_init(kernel_init_method),
        dtype=dtype,
        name="embedding",
    )(video)


def frame_sampling_embedding(video: jax.Array, hidden_size: int, patch_size: Sequence[int],
                             num_sampled_frames: int, dtype: Dtype) -> jax.Array:
    """Uniform frame sampling: `num_sampled_frames` frames cut into 2D patches by one conv
    `embedding` (frames stacked into one tall image, as Scenic does). Call inside a compact method.

    [batch, time, height, width, 3] -> [batch, sampled, height / h, width / w, hidden_size].
    """
    height, width = patch_size[:2]
    frames = sample_frames_uniformly(video, num_sampled_frames)
    batch, time, frame_height, frame_width, channels = frames.shape
    stacked = frames.reshape(batch, time * frame_height, frame_width, channels)
    tokens = nn.Conv(
        hidden_size,
        (height, width),
        strides=(height, width),
        padding="VALID",
        dtype=dtype,
        name="embedding",
    )(stacked)  # [batch, time * grid_h, grid_w, hidden]
    return tokens.reshape(batch, time, -1, tokens.shape[2], tokens.shape[3])


class AddPositionEmbs(nn.Module):
    """Learned positional embedding `pos_embedding` [1, tokens, features] added to [b, tokens, f]."""

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        pos_embedding = self.param(
            "pos_embedding",
            nn.initializers.normal(stddev=0.02),
            (1,) + inputs.shape[1:],
            jnp.float32,
        )
        return inputs + pos_embedding.astype(inputs.dtype)
