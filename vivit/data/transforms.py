"""Spatial and photometric transforms of one clip, each the same on every frame.

Clips are uint8 [time, height, width, 3] until `to_float`; colour jitter and random erasing work
on float [time, height, width, 3] in [0, 1]. Random choices are drawn once per clip from the
given numpy Generator, so the transform is temporally consistent.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Colour jitter ranges (brightness delta, contrast / saturation factors, hue rotation in turns).
_BRIGHTNESS_DELTA = 32.0 / 255.0
_CONTRAST_RANGE = (0.6, 1.4)
_SATURATION_RANGE = (0.6, 1.4)
_HUE_DELTA = 0.1
_LUMA = np.asarray([0.299, 0.587, 0.114], np.float32)


def resize(clip: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of every frame to [height, width]."""
    if clip.shape[1:3] == (height, width):
        return clip
    return np.stack(
        [np.asarray(Image.fromarray(f).resize((width, height), Image.BILINEAR)) for f in clip]
    )


def shorter_side_size(height: int, width: int, shorter: int) -> tuple[int, int]:
    """(height, width) with the shorter side equal to `shorter`, aspect ratio kept."""
    if height <= width:
        return shorter, max(shorter, int(round(width * shorter / height)))
    return max(shorter, int(round(height * shorter / width))), shorter


def resize_shorter_side(clip: np.ndarray, shorter: int) -> np.ndarray:
    return resize(clip, *shorter_side_size(clip.shape[1], clip.shape[2], shorter))


def random_resized_crop(
    rng: np.random.Generator, clip: np.ndarray, shorter: int, size: int
) -> np.ndarray:
    """`random_crop(rng, resize_shorter_side(clip, shorter), size)` without resizing the whole
    frame: only the source box under the crop is resized (PIL's `box`), same rng draws."""
    height, width = shorter_side_size(clip.shape[1], clip.shape[2], shorter)
    if (height, width) == clip.shape[1:3]:
        return random_crop(rng, clip, size)
    if height < size or width < size:
        _check_fits(np.empty((0, height, width, 3)), size)
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    scale_y, scale_x = clip.shape[1] / height, clip.shape[2] / width
    box = (left * scale_x, top * scale_y, (left + size) * scale_x, (top + size) * scale_y)
    return np.stack([np.asarray(Image.fromarray(frame).resize((size, size), Image.BILINEAR, box=box))
                     for frame in clip])


def crop(clip: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    return clip[:, top : top + size, left : left + size]


def _check_fits(clip: np.ndarray, size: int) -> None:
    if clip.shape[1] < size or clip.shape[2] < size:
        raise ValueError(
            f"Cannot crop {size}x{size} from frames of {clip.shape[1]}x{clip.shape[2]}: "
            "dataset_configs.crop_size must be <= dataset_configs.min_resize."
        )


def random_crop(rng: np.random.Generator, clip: np.ndarray, size: int) -> np.ndarray:
    """A size x size crop at a random position, the same in every frame."""
    _check_fits(clip, size)
    top = int(rng.integers(0, clip.shape[1] - size + 1))
    left = int(rng.integers(0, clip.shape[2] - size + 1))
    return crop(clip, top, left, size)


def centre_crop(clip: np.ndarray, size: int) -> np.ndarray:
    _check_fits(clip, size)
    return crop(clip, (clip.shape[1] - size) // 2, (clip.shape[2] - size) // 2, size)


def three_crops(clip: np.ndarray, size: int) -> list[np.ndarray]:
    """Start / centre / end crops along the longer side (left-centre-right or top-middle-bottom)."""
    _check_fits(clip, size)
    height, width = clip.shape[1:3]
    if width >= height:
        top = (height - size) // 2
        return [crop(clip, top, left, size) for left in (0, (width - size) // 2, width - size)]
    left = (width - size) // 2
    return [crop(clip, top, left, size) for top in (0, (height - size) // 2, height - size)]


def random_flip(rng: np.random.Generator, clip: np.ndarray) -> np.ndarray:
    """Mirrors every frame left-right with probability 1/2."""
    return clip[:, :, ::-1] if rng.random() < 0.5 else clip


def scale_jitter_shorter_side(
    rng: np.random.Generator,
    min_resize: int,
    crop_size: int,
    min_factor: float,
    max_factor: float,
    probability: float,
) -> int:
    """Shorter side to resize to: min_resize times a random factor (never below crop_size)."""
    if min_factor <= 0 or max_factor < min_factor:
        raise ValueError(
            "dataset_configs.augmentation_params: need 0 < scale_min_factor <= scale_max_factor, "
            f"got {min_factor} and {max_factor}."
        )
    factor = rng.uniform(min_factor, max_factor) if rng.random() < probability else 1.0
    return max(crop_size, int(round(min_resize * factor)))


def to_float(clip: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1]."""
    out = clip.astype(np.float32)
    out /= np.float32(255.0)  # In place: one new array, not two.
    return out


def _to_grey(clip: np.ndarray) -> np.ndarray:
    return np.repeat((clip @ _LUMA)[..., None], 3, axis=-1)


def _hue_matrix(turns: float) -> np.ndarray:
    # Rotate the chroma plane of YIQ: a linear map, so one 3x3 matrix for the whole clip.
    to_yiq = np.asarray(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float64
    )
    angle = 2 * np.pi * turns
    rotation = np.asarray(
        [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]]
    )
    return np.linalg.inv(to_yiq) @ rotation @ to_yiq


def colour_jitter(
    rng: np.random.Generator, clip: np.ndarray, prob_augment: float, prob_drop: float
) -> np.ndarray:
    """Brightness, contrast, saturation and hue jitter (probability prob_augment), then
    grey-scale (probability prob_drop); one draw per clip. Float clip in [0, 1].

    The four jitters are affine in the pixel, so they run as one 3x3 matrix and one offset per
    frame (contrast pulls towards each frame's mean): one pass over the clip instead of six.
    """
    if rng.random() < prob_augment:
        brightness = rng.uniform(-_BRIGHTNESS_DELTA, _BRIGHTNESS_DELTA)
        contrast = rng.uniform(*_CONTRAST_RANGE)
        saturation = rng.uniform(*_SATURATION_RANGE)
        hue = rng.uniform(-_HUE_DELTA, _HUE_DELTA)
        # x -> c (x + d - m) + m with m = mean(x + d) per frame, then saturation S, then hue H.
        to_grey = np.outer(np.ones(3), _LUMA.astype(np.float64))
        colour = _hue_matrix(hue) @ (saturation * np.eye(3) + (1 - saturation) * to_grey)
        frame_mean = clip.mean(axis=(1, 2, 3), dtype=np.float64) + brightness  # [time]
        shift = contrast * brightness + (1 - contrast) * frame_mean  # [time]
        offset = shift[:, None] * colour.sum(axis=1)[None]  # [time, 3]
        clip = clip @ (contrast * colour).T.astype(np.float32)
        clip += offset[:, None, None, :].astype(np.float32)
        np.clip(clip, 0.0, 1.0, out=clip)
    if rng.random() < prob_drop:
        clip = _to_grey(clip)
    return clip.astype(np.float32, copy=False)


def random_erasing(
    rng: np.random.Generator,
    clip: np.ndarray,
    probability: float,
    area_range: tuple[float, float] = (0.02, 1 / 3),
    aspect_range: tuple[float, float] = (0.3, 1 / 0.3),
) -> np.ndarray:
    """With `probability`, fills one random rectangle (the same in every frame) with uniform
    noise in [0, 1]. Float clip [time, height, width, 3]."""
    if rng.random() >= probability:
        return clip
    height, width = clip.shape[1:3]
    for _ in range(10):
        area = rng.uniform(*area_range) * height * width
        aspect = np.exp(rng.uniform(np.log(aspect_range[0]), np.log(aspect_range[1])))
        box_h = int(round(np.sqrt(area * aspect)))
        box_w = int(round(np.sqrt(area / aspect)))
        if 0 < box_h <= height and 0 < box_w <= width:
            top = int(rng.integers(0, height - box_h + 1))
            left = int(rng.integers(0, width - box_w + 1))
            clip = clip.copy()
            noise = rng.random((box_h, box_w, clip.shape[3]), dtype=np.float32)
            clip[:, top : top + box_h, left : left + box_w] = noise
            return clip
    return clip
