"""Per-frame pixel work through OpenCV: JPEG decoding, resizing, crop warps and colour maps.

OpenCV's calls run SIMD C++ and release the GIL, so the reader threads of `VideoDataset` decode
and resize in parallel. Its own thread pool is switched off (`cv2.setNumThreads(1)`): the reader
threads are the parallelism, and a second pool per call would oversubscribe the cores. This is
the one module that imports OpenCV. Clips are uint8 [time, height, width, 3], RGB.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

cv2.setNumThreads(1)

# Shrinking by more than this uses area averaging: plain bilinear (2 taps) aliases, while PIL's
# bilinear widens its filter when it shrinks (tests/data/test_frame_ops.py compares the two).
AREA_SHRINK = 1.5
# JPEG DCT scaling: decode at 1/2, 1/4 or 1/8 of the stored size for a fraction of the cost.
_REDUCED = {1: cv2.IMREAD_COLOR_RGB, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2 | cv2.IMREAD_COLOR_RGB,
            4: cv2.IMREAD_REDUCED_GRAYSCALE_4 | cv2.IMREAD_COLOR_RGB,
            8: cv2.IMREAD_REDUCED_GRAYSCALE_8 | cv2.IMREAD_COLOR_RGB}


def image_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) of an encoded image, from its header only; None when unreadable."""
    from PIL import Image

    try:
        width, height = Image.open(io.BytesIO(data)).size
    except Exception:  # PIL raises several types for bad headers; decode() names the frame.
        return None
    return height, width


def reduction_for(height: int, width: int, shorter_side: int) -> int:
    """The largest JPEG DCT scale (1, 2, 4 or 8) that keeps the shorter side >= shorter_side."""
    stored = min(height, width)
    return max((f for f in _REDUCED if -(-stored // f) >= shorter_side), default=1)


def decode(data: bytes, reduction: int = 1) -> np.ndarray | None:
    """uint8 [height, width, 3] RGB (grey images as three equal channels), decoded at
    1/`reduction` of the stored size (JPEG only; sizes round up); None when undecodable."""
    return cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[reduction])


def shrinks_much(source: tuple[int, int], target: tuple[int, int]) -> bool:
    """Whether resizing (height, width) `source` to `target` shrinks a side by more than
    AREA_SHRINK, where bilinear needs area averaging instead."""
    return max(source[0] / target[0], source[1] / target[1]) > AREA_SHRINK


def resize(clip: np.ndarray, height: int, width: int) -> np.ndarray:
    """Every frame resized to [height, width] (a new array; the clip itself when it fits)."""
    if clip.shape[1:3] == (height, width):
        return clip
    method = cv2.INTER_AREA if shrinks_much(clip.shape[1:3], (height, width)) else cv2.INTER_LINEAR
    out = np.empty((len(clip), height, width, clip.shape[3]), np.uint8)
    for frame, target in zip(clip, out):
        cv2.resize(frame, (width, height), dst=target, interpolation=method)
    return out


def warp(clip: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """[time, size, size, 3]: output pixel (x, y) reads the bilinear source pixel at
    matrix @ (x, y, 1) (edges repeated), the same 2x3 map for every frame. One call per frame
    resizes, crops and flips only what the output needs."""
    out = np.empty((len(clip), size, size, clip.shape[3]), np.uint8)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for frame, target in zip(clip, out):
        cv2.warpAffine(frame, matrix, (size, size), dst=target, flags=flags,
                       borderMode=cv2.BORDER_REPLICATE)
    return out


def frame_means(clip: np.ndarray) -> np.ndarray:
    """float64 [time]: the mean over pixels and channels of every frame."""
    return np.asarray([np.mean(cv2.mean(frame)[:3]) for frame in clip])


def colour_map(clip: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """In place: pixel p of frame t becomes round(matrices[t] @ (p, 1)), saturated to 0..255.

    matrices: [time, 3, 4] (or [3, 3] for one linear map on every frame), in 0..255 units.
    """
    per_frame = np.broadcast_to(
        np.asarray(matrices, np.float32), (len(clip),) + np.shape(matrices)[-2:])
    for frame, matrix in zip(clip, per_frame):
        cv2.transform(frame, matrix, dst=frame)
    return clip


def lookup(clip: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """In place: channel c of every pixel value v becomes tables[v, c] (tables: uint8 [256, 3])."""
    table = np.ascontiguousarray(tables, np.uint8).reshape(256, 1, 3)
    for frame in clip:
        cv2.LUT(frame, table, dst=frame)
    return clip


def channel_histograms(clip: np.ndarray) -> np.ndarray:
    """int64 [3, 256]: how many pixels of the clip hold each value, per channel."""
    return np.stack([sum(cv2.calcHist([frame], [channel], None, [256], [0, 256]).reshape(-1)
                         for frame in clip) for channel in range(3)]).astype(np.int64)


def channel_means(clip: np.ndarray) -> np.ndarray:
    """float64 [3]: the mean of every channel over the clip."""
    return np.mean([cv2.mean(frame)[:3] for frame in clip], axis=0)
