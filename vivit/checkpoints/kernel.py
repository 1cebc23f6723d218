"""Patch/tubelet-kernel adapters: a 2D image patch kernel -> a 3D tubelet kernel (paper Sec. 3.4)."""

from __future__ import annotations

import numpy as np

from vivit.checkpoints.errors import CheckpointError

KERNEL_INIT_METHODS = (
    "central_frame_initializer",
    "average_frame_initializer",
    "average_arp_frame_initializer",
)


def central_frame(kernel_2d: np.ndarray, frames: int) -> np.ndarray:
    """Eq. 9: the image kernel at temporal index floor(t/2), zeros elsewhere."""
    out = np.zeros((frames,) + kernel_2d.shape, kernel_2d.dtype)
    out[frames // 2] = kernel_2d
    return out


def inflate(kernel_2d: np.ndarray, frames: int) -> np.ndarray:
    """Eq. 8 (filter inflation, Carreira & Zisserman 2017): the image kernel / t at every frame."""
    return np.repeat(kernel_2d[None], frames, axis=0) / frames


def arp_weights(frames: int) -> np.ndarray:
    """Approximate-rank-pooling coefficients (Bilen et al., PAMI 2017, Eq. 3), one per frame."""
    index = np.arange(1, frames + 1)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / index)])  # H_0 .. H_T
    return 2 * (frames - index + 1) - (frames + 1) * (harmonic[-1] - harmonic[:-1])


def inflate_arp(kernel_2d: np.ndarray, frames: int) -> np.ndarray:
    """Inflation weighted by approximate rank pooling over the t frames (Scenic's third option)."""
    weights = (arp_weights(frames) / frames).reshape((frames,) + (1,) * kernel_2d.ndim)
    return (np.repeat(kernel_2d[None], frames, axis=0) * weights).astype(kernel_2d.dtype)


_BUILDERS = {
    "central_frame_initializer": central_frame,
    "average_frame_initializer": inflate,
    "average_arp_frame_initializer": inflate_arp,
}


def adapt_embedding_kernel(source: np.ndarray, target: np.ndarray, method: str | None,
                           name: str = "embedding/kernel") -> np.ndarray:
    """`source` [(t,) h, w, 3, D] -> `target`'s shape, inflating a 2D kernel with `method`."""
    if source.shape == target.shape:
        return source.astype(target.dtype)
    if source.ndim == 4 and target.ndim == 5 and tuple(target.shape[1:]) == source.shape:
        if method not in _BUILDERS:
            raise CheckpointError(
                f"{name}: the checkpoint's 2D kernel {source.shape} must be inflated to "
                f"{target.shape}, but model.temporal_encoding_config.kernel_init_method is "
                f"{method!r}; use one of {KERNEL_INIT_METHODS}.")
        return _BUILDERS[method](source, target.shape[0]).astype(target.dtype)
    raise CheckpointError(
        f"{name}: checkpoint kernel {source.shape} cannot become the model's {target.shape}. "
        "Patch size, channels and hidden size must match (model.patches.size, "
        "model.hidden_size); only a 2D kernel can be inflated over time.")
