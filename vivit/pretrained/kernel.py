"""Patch/tubelet-kernel adapters: a 2D image patch kernel -> a 3D tubelet kernel (paper Sec. 3.4)."""

from __future__ import annotations

import numpy as np

from vivit.formats.errors import CheckpointError
from vivit.models.embeddings import KERNEL_INIT_METHODS, inflate_2d_kernel


def adapt_embedding_kernel(source: np.ndarray, target: np.ndarray, method: str | None,
                           name: str = "embedding/kernel") -> np.ndarray:
    """`source` [(t,) h, w, 3, D] -> `target`'s shape, inflating a 2D kernel with `method`."""
    if source.shape == target.shape:
        return source.astype(target.dtype)
    if source.ndim == 4 and target.ndim == 5 and tuple(target.shape[1:]) == source.shape:
        if method not in KERNEL_INIT_METHODS:
            raise CheckpointError(
                f"{name}: the checkpoint's 2D kernel {source.shape} must be inflated to "
                f"{target.shape}, but model.temporal_encoding_config.kernel_init_method is "
                f"{method!r}; use one of {KERNEL_INIT_METHODS}.")
        # One rule set for fresh init and checkpoint init (vivit.models.embeddings).
        return np.asarray(inflate_2d_kernel(source, target.shape[0], method), target.dtype)
    raise CheckpointError(
        f"{name}: checkpoint kernel {source.shape} cannot become the model's {target.shape}. "
        "Patch size, channels and hidden size must match (model.patches.size, "
        "model.hidden_size); only a 2D kernel can be inflated over time.")
