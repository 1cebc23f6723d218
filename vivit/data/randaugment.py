"""RandAugment applied identically to every frame of a clip (the paper's "temporally consistent").

The op list and the magnitude scale (levels out of 10, larger values extrapolate) follow the
RandAugment of tensorflow/models `augment.py`; ops whose result depends on image statistics
(auto-contrast, equalise, contrast) take those statistics from the whole clip, so they too are one
transform for all frames. uint8 clips [time, height, width, 3] in, uint8 clips out; the clip may
be changed in place. Pixel-wise ops run as OpenCV lookup tables or 3x4 colour maps (blends are
rounded, where tensorflow/models truncates).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance

from vivit.data import frame_ops

_MAX_LEVEL = 10.0
_FILL = (128, 128, 128)
_LUMA = np.asarray([0.299, 0.587, 0.114])


def _per_frame(clip: np.ndarray, fn: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(fn(Image.fromarray(frame))) for frame in clip])


def _affine(clip: np.ndarray, matrix: tuple[float, ...]) -> np.ndarray:
    return _per_frame(
        clip, lambda im: im.transform(im.size, Image.AFFINE, matrix, Image.NEAREST, fillcolor=_FILL)
    )


def _blend(clip: np.ndarray, factor: float, degenerate: np.ndarray, constant: float = 0.0
           ) -> np.ndarray:
    """factor * clip + (1 - factor) * degenerate, for a degenerate image that is linear in the
    pixel (degenerate [3, 3] @ pixel + constant): one 3x4 map, rounded and saturated, in place."""
    matrix = np.zeros((3, 4))
    matrix[:, :3] = factor * np.eye(3) + (1 - factor) * degenerate
    matrix[:, 3] = (1 - factor) * constant
    return frame_ops.colour_map(clip, matrix)


def identity(clip, level, sign):
    return clip


def auto_contrast(clip, level, sign):
    # Per-channel min and max over the clip: rows of [pixels, width * 3] reduce with SIMD.
    rows = clip.reshape(-1, clip.shape[2] * clip.shape[3])
    low = rows.min(axis=0).reshape(-1, 3).min(axis=0).astype(np.float32)  # [3]
    high = rows.max(axis=0).reshape(-1, 3).max(axis=0).astype(np.float32)
    scale = np.where(high > low, 255.0 / np.maximum(high - low, 1), 1.0)
    offset = np.where(high > low, low, 0.0)
    values = np.arange(256, dtype=np.float32)[:, None]
    tables = np.clip((values - offset) * scale, 0, 255)
    return frame_ops.lookup(clip, tables.astype(np.uint8))


def equalize(clip, level, sign):
    tables = np.empty((256, 3), np.uint8)
    for channel, histogram in enumerate(frame_ops.channel_histograms(clip)):
        cdf = np.cumsum(histogram)
        nonzero = cdf[histogram > 0]
        if len(nonzero) < 2:
            tables[:, channel] = np.arange(256)
            continue
        tables[:, channel] = np.clip(
            np.round((cdf - nonzero[0]) / (cdf[-1] - nonzero[0]) * 255), 0, 255)
    return frame_ops.lookup(clip, tables)


def invert(clip, level, sign):
    return 255 - clip


def rotate(clip, level, sign):
    degrees = sign * level / _MAX_LEVEL * 30.0
    return _per_frame(clip, lambda im: im.rotate(degrees, Image.NEAREST, fillcolor=_FILL))


def posterize(clip, level, sign):
    bits = int(np.clip(8 - int(level / _MAX_LEVEL * 4), 1, 8))
    mask = np.uint8((0xFF << (8 - bits)) & 0xFF)
    return clip & mask


def solarize(clip, level, sign):
    threshold = int(np.clip(256 - level / _MAX_LEVEL * 256, 0, 256))
    values = np.arange(256)
    return frame_ops.lookup(clip, np.repeat(
        np.where(values < threshold, values, 255 - values)[:, None], 3, axis=1))


def solarize_add(clip, level, sign):
    values = np.arange(256)
    added = np.clip(values + int(level / _MAX_LEVEL * 110), 0, 255)
    return frame_ops.lookup(clip, np.repeat(np.where(values < 128, added, values)[:, None], 3,
                                            axis=1))


def _enhance_factor(level: float) -> float:
    return level / _MAX_LEVEL * 1.8 + 0.1


def colour(clip, level, sign):
    # Degenerate: the grey (luma) of each pixel in all three channels.
    return _blend(clip, _enhance_factor(level), np.outer(np.ones(3), _LUMA))


def contrast(clip, level, sign):
    # Degenerate: the clip's mean grey level everywhere.
    mean_grey = float(frame_ops.channel_means(clip) @ _LUMA)
    return _blend(clip, _enhance_factor(level), np.zeros((3, 3)), mean_grey)


def brightness(clip, level, sign):
    # Degenerate: black.
    return _blend(clip, _enhance_factor(level), np.zeros((3, 3)))


def sharpness(clip, level, sign):
    factor = _enhance_factor(level)
    return _per_frame(clip, lambda im: ImageEnhance.Sharpness(im).enhance(factor))


def shear_x(clip, level, sign):
    return _affine(clip, (1, sign * level / _MAX_LEVEL * 0.3, 0, 0, 1, 0))


def shear_y(clip, level, sign):
    return _affine(clip, (1, 0, 0, sign * level / _MAX_LEVEL * 0.3, 1, 0))


def translate_x(clip, level, sign):
    pixels = sign * level / _MAX_LEVEL * 0.45 * clip.shape[2]
    return _affine(clip, (1, 0, pixels, 0, 1, 0))


def translate_y(clip, level, sign):
    pixels = sign * level / _MAX_LEVEL * 0.45 * clip.shape[1]
    return _affine(clip, (1, 0, 0, 0, 1, pixels))


OPS: dict[str, Callable[[np.ndarray, float, float], np.ndarray]] = {
    "Identity": identity, "AutoContrast": auto_contrast, "Equalize": equalize,
    "Invert": invert, "Rotate": rotate, "Posterize": posterize, "Solarize": solarize,
    "SolarizeAdd": solarize_add, "Color": colour, "Contrast": contrast,
    "Brightness": brightness, "Sharpness": sharpness, "ShearX": shear_x, "ShearY": shear_y,
    "TranslateX": translate_x, "TranslateY": translate_y,
}


def rand_augment(
    rng: np.random.Generator, clip: np.ndarray, num_layers: int, magnitude: float
) -> np.ndarray:
    """Applies `num_layers` ops drawn uniformly from OPS at `magnitude`, one draw per clip."""
    if num_layers < 0 or magnitude < 0:
        raise ValueError(
            "dataset_configs.augmentation_params.rand_augment_num_layers and "
            f"rand_augment_magnitude must be >= 0, got {num_layers} and {magnitude}."
        )
    names = list(OPS)
    for _ in range(num_layers):
        name = names[int(rng.integers(len(names)))]
        sign = 1.0 if rng.random() < 0.5 else -1.0
        clip = OPS[name](clip, float(magnitude), sign)
    return clip
