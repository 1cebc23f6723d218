"""RandAugment applied identically to every frame of a clip (the paper's "temporally consistent").

The op list and the magnitude scale (levels out of 10, larger values extrapolate) follow the
RandAugment of tensorflow/models `augment.py`; ops whose result depends on image statistics
(auto-contrast, equalise, contrast) take those statistics from the whole clip, so they too are one
transform for all frames. uint8 clips [time, height, width, 3] in, uint8 clips out.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance

_MAX_LEVEL = 10.0
_FILL = (128, 128, 128)


def _per_frame(clip: np.ndarray, fn: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(fn(Image.fromarray(frame))) for frame in clip])


def _affine(clip: np.ndarray, matrix: tuple[float, ...]) -> np.ndarray:
    return _per_frame(
        clip, lambda im: im.transform(im.size, Image.AFFINE, matrix, Image.NEAREST, fillcolor=_FILL)
    )


def _blend(clip: np.ndarray, degenerate: np.ndarray, factor: float) -> np.ndarray:
    out = degenerate.astype(np.float32) + factor * (clip.astype(np.float32) - degenerate)
    return np.clip(out, 0, 255).astype(np.uint8)


def _grey(clip: np.ndarray) -> np.ndarray:
    return clip.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32)


def identity(clip, level, sign):
    return clip


def auto_contrast(clip, level, sign):
    low = clip.min(axis=(0, 1, 2), keepdims=True).astype(np.float32)
    high = clip.max(axis=(0, 1, 2), keepdims=True).astype(np.float32)
    scale = np.where(high > low, 255.0 / np.maximum(high - low, 1), 1.0)
    offset = np.where(high > low, low, 0.0)
    return np.clip((clip - offset) * scale, 0, 255).astype(np.uint8)


def equalize(clip, level, sign):
    out = np.empty_like(clip)
    for channel in range(3):
        values = clip[..., channel]
        histogram = np.bincount(values.ravel(), minlength=256)
        cdf = np.cumsum(histogram)
        nonzero = cdf[histogram > 0]
        if len(nonzero) < 2:
            out[..., channel] = values
            continue
        lut = np.clip(np.round((cdf - nonzero[0]) / (cdf[-1] - nonzero[0]) * 255), 0, 255)
        out[..., channel] = lut.astype(np.uint8)[values]
    return out


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
    return np.where(clip < threshold, clip, 255 - clip).astype(np.uint8)


def solarize_add(clip, level, sign):
    added = np.clip(clip.astype(np.int32) + int(level / _MAX_LEVEL * 110), 0, 255).astype(np.uint8)
    return np.where(clip < 128, added, clip)


def _enhance_factor(level: float) -> float:
    return level / _MAX_LEVEL * 1.8 + 0.1


def colour(clip, level, sign):
    grey = np.repeat(_grey(clip)[..., None], 3, axis=-1)
    return _blend(clip, grey, _enhance_factor(level))


def contrast(clip, level, sign):
    mean = np.full(clip.shape, _grey(clip).mean(), np.float32)
    return _blend(clip, mean, _enhance_factor(level))


def brightness(clip, level, sign):
    return _blend(clip, np.zeros(clip.shape, np.float32), _enhance_factor(level))


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
