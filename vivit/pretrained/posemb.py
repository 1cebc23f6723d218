"""Positional-embedding adapters: a pretrained posemb of one length -> the model's length.

Tokens are ordered time-major (all of frame 0's patches, then frame 1's, ...), so repeating an
image posemb over time (`tile`) is the paper's "repeat over time" initialization.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import scipy.ndimage

from vivit.formats.errors import CheckpointError

SIZE_CHANGES = ("tile", "resize", "resize_tile")


@dataclasses.dataclass(frozen=True)
class TargetGrid:
    """The model's token layout: frames x (height x width) patches per frame."""

    frames: int
    height: int
    width: int


def resize_grid(grid: np.ndarray, height: int, width: int, name: str) -> np.ndarray:
    """[h0*w0, D] on a square h0 x w0 grid -> [height*width, D], bilinear (Scenic's zoom order 1)."""
    side = int(round(np.sqrt(grid.shape[0])))
    if side * side != grid.shape[0]:
        raise CheckpointError(
            f"{name}: cannot resize a posemb of {grid.shape[0]} tokens, which is not a square grid.")
    square = grid.reshape(side, side, -1)
    resized = scipy.ndimage.zoom(square, (height / side, width / side, 1), order=1)
    return resized.reshape(height * width, -1)


def tile_frames(grid: np.ndarray, frames: int) -> np.ndarray:
    """[n, D] -> [frames*n, D]: the same posemb for every frame."""
    return np.concatenate([grid] * frames, axis=0)


def interpolate_1d(grid: np.ndarray, n_tokens: int) -> np.ndarray:
    """[n, D] -> [n_tokens, D], linear along the token axis (temporal encoder posembs)."""
    return scipy.ndimage.zoom(grid, (n_tokens / grid.shape[0], 1), order=1)


def adapt_posemb(
    source: np.ndarray,
    target: np.ndarray,
    *,
    source_has_cls: bool,
    target_has_cls: bool,
    method: str,
    grid: Optional[TargetGrid],
    temporal: bool = False,
    name: str = "Transformer/posembed_input/pos_embedding",
) -> np.ndarray:
    """Adapts `source` [1, N(+1), D] to `target`'s shape; `target` also supplies a fresh cls slot."""
    if source.ndim != 3 or source.shape[-1] != target.shape[-1]:
        raise CheckpointError(
            f"{name}: checkpoint posemb {source.shape} cannot become {target.shape} "
            "(the hidden sizes differ: set model.hidden_size to the checkpoint's).")
    source_grid = source[0, 1:] if source_has_cls else source[0]  # [n_source, D]
    if target_has_cls:
        cls_slot = source[:, :1] if source_has_cls else target[:, :1]
    else:
        cls_slot = source[:, :0]
    n_target = target.shape[1] - (1 if target_has_cls else 0)
    new_grid = _adapt_patches(source_grid, n_target, method, grid, temporal, name)
    return np.concatenate([cls_slot, new_grid[None]], axis=1).astype(target.dtype)


def _adapt_patches(source_grid: np.ndarray, n_target: int, method: str,
                   grid: Optional[TargetGrid], temporal: bool, name: str) -> np.ndarray:
    """Picks the case: [n_source, D] patch posembs -> [n_target, D]. Lengths that already agree,
    a video posemb on the model's spatial grid and temporal posembs need no `method`."""
    if source_grid.shape[0] == n_target:
        return source_grid
    if not temporal and _is_video_on_the_same_grid(source_grid.shape[0], n_target, grid):
        return _resample_time(source_grid, grid)
    if temporal:
        return interpolate_1d(source_grid, n_target)
    if method not in _SIZE_CHANGE_ADAPTERS:
        raise CheckpointError(
            f"Unknown init_from.positional_embed_size_change '{method}'; use one of {SIZE_CHANGES}.")
    return _SIZE_CHANGE_ADAPTERS[method](source_grid, n_target, grid, name)


def _is_video_on_the_same_grid(n_source: int, n_target: int, grid: Optional[TargetGrid]) -> bool:
    """Whether the source holds several frames of the model's per-frame patch grid."""
    if not grid or grid.frames <= 1:
        return False
    per_frame = grid.height * grid.width
    return (n_target == grid.frames * per_frame and n_source % per_frame == 0
            and n_source > per_frame)


def _resample_time(source_grid: np.ndarray, grid: TargetGrid) -> np.ndarray:
    """A ViViT's posemb for another clip length: linear along time, the spatial grid kept."""
    per_frame = grid.height * grid.width
    frames = source_grid.reshape(source_grid.shape[0] // per_frame, per_frame, -1)
    zoom = (grid.frames / frames.shape[0], 1, 1)
    return scipy.ndimage.zoom(frames, zoom, order=1).reshape(grid.frames * per_frame, -1)


def _tile(source_grid: np.ndarray, n_target: int, grid: Optional[TargetGrid],
          name: str) -> np.ndarray:
    """'tile': the image posemb repeated over time; the spatial grids must agree."""
    n_source = source_grid.shape[0]
    per_frame = grid.height * grid.width if grid else None
    if n_target % n_source or (per_frame is not None and per_frame != n_source):
        raise CheckpointError(
            f"{name}: cannot tile the checkpoint's {n_source} patch posembs to the model's "
            f"{n_target} tokens ({_grid_text(grid)}); the spatial grids differ, so set "
            "init_from.positional_embed_size_change='resize_tile'.")
    return tile_frames(source_grid, n_target // n_source)


def _resize(source_grid: np.ndarray, n_target: int, grid: Optional[TargetGrid],
            name: str) -> np.ndarray:
    """'resize': one square grid resized to another (image models)."""
    side = int(round(np.sqrt(n_target)))
    if side * side != n_target:
        raise CheckpointError(
            f"{name}: 'resize' needs a square target grid, but the model has {n_target} "
            f"tokens ({_grid_text(grid)}); use init_from.positional_embed_size_change="
            "'resize_tile' for video models.")
    return resize_grid(source_grid, side, side, name)


def _resize_tile(source_grid: np.ndarray, n_target: int, grid: Optional[TargetGrid],
                 name: str) -> np.ndarray:
    """'resize_tile': resized to the model's per-frame grid, then repeated over time."""
    if grid is None or grid.frames * grid.height * grid.width != n_target:
        raise CheckpointError(
            f"{name}: 'resize_tile' needs the model's token grid, which the config gives as "
            f"{_grid_text(grid)} but the model has {n_target} tokens.")
    return tile_frames(resize_grid(source_grid, grid.height, grid.width, name), grid.frames)


# init_from.positional_embed_size_change -> its adapter; the keys are SIZE_CHANGES.
_SIZE_CHANGE_ADAPTERS = {"tile": _tile, "resize": _resize, "resize_tile": _resize_tile}


def _grid_text(grid: Optional[TargetGrid]) -> str:
    if grid is None:
        return "token grid unknown"
    return f"{grid.frames} frames x {grid.height}x{grid.width} patches"
