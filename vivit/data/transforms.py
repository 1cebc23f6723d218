"""Spatial and photometric transforms of one clip, each the same on every frame.

Clips are uint8 [time, height, width, 3] from decoding to the batch; the conversion to the
model's float range happens on the device (`vivit.train.pixels`). Random choices are drawn once
per clip from the given numpy Generator, so the transform is temporally consistent. The pixel
work runs through OpenCV (`vivit.data.frame_ops`).
"""

from __future__ import annotations

import numpy as np

from vivit.data import frame_ops

# Colour jitter ranges (brightness delta, contrast / saturation factors, hue rotation in turns).
_BRIGHTNESS_DELTA = 32.0 / 255.0
_CONTRAST_RANGE = (0.6, 1.4)
_SATURATION_RANGE = (0.6, 1.4)
_HUE_DELTA = 0.1
_LUMA = np.asarray([0.299, 0.587, 0.114], np.float64)


def resize(clip: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of every frame to [height, width] (area averaging when shrinking much)."""
    return frame_ops.resize(clip, height, width)


def shorter_side_size(height: int, width: int, shorter: int) -> tuple[int, int]:
    """(height, width) with the shorter side equal to `shorter`, aspect ratio kept."""
    if height <= width:
        return shorter, max(shorter, int(round(width * shorter / height)))
    return max(shorter, int(round(height * shorter / width))), shorter


def resize_shorter_side(clip: np.ndarray, shorter: int) -> np.ndarray:
    return resize(clip, *shorter_side_size(clip.shape[1], clip.shape[2], shorter))


def random_resized_crop(
    rng: np.random.Generator, clip: np.ndarray, shorter: int, size: int,
    flip_probability: float = 0.0,
) -> np.ndarray:
    """A size x size crop at a random position of the clip resized to `shorter`, mirrored
    left-right with `flip_probability`; draws top, left, then the flip. A new contiguous
    array: one warp per frame resizes, crops and flips only the source box under the crop, as
    `random_crop(rng, resize_shorter_side(clip, shorter), size)` would (tested). Shrinking by
    more than frame_ops.AREA_SHRINK resizes whole frames first, with area averaging."""
    height, width = shorter_side_size(clip.shape[1], clip.shape[2], shorter)
    if height < size or width < size:
        _check_fits(np.empty((0, height, width, 3)), size)
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    flip = flip_probability > 0 and rng.random() < flip_probability
    if (height, width) == clip.shape[1:3] or frame_ops.shrinks_much(clip.shape[1:3],
                                                                      (height, width)):
        cropped = crop(resize(clip, height, width), top, left, size)
        # A copy: later augmentations write in place, and the frames may be the source's own.
        return (cropped[:, :, ::-1] if flip else cropped).copy()
    # Output pixel x reads source x' = (left + x + 1/2) * scale - 1/2: the pixel centres of a
    # whole-frame bilinear resize. A flip reads column size - 1 - x instead.
    scale_y, scale_x = clip.shape[1] / height, clip.shape[2] / width
    column = (size - 1 - np.arange(2)) if flip else np.arange(2)  # x = 0 and x = 1
    x0, x1 = ((left + column + 0.5) * scale_x - 0.5)
    matrix = np.asarray([[x1 - x0, 0.0, x0],
                         [0.0, scale_y, (top + 0.5) * scale_y - 0.5]], np.float64)
    return frame_ops.warp(clip, matrix, size)


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
    grey-scale (probability prob_drop); one draw per clip. uint8 clip, changed in place.

    The four jitters are affine in the pixel, so they run as one 3x4 map per frame (contrast
    pulls towards each frame's mean), rounded and saturated once: within a level of applying
    them one after another in float (tested).
    """
    if rng.random() < prob_augment:
        brightness = rng.uniform(-_BRIGHTNESS_DELTA, _BRIGHTNESS_DELTA) * 255.0
        contrast = rng.uniform(*_CONTRAST_RANGE)
        saturation = rng.uniform(*_SATURATION_RANGE)
        hue = rng.uniform(-_HUE_DELTA, _HUE_DELTA)
        # x -> c (x + d - m) + m with m = mean(x + d) per frame, then saturation S, then hue H.
        to_grey = np.outer(np.ones(3), _LUMA)
        colour = _hue_matrix(hue) @ (saturation * np.eye(3) + (1 - saturation) * to_grey)
        frame_mean = frame_ops.frame_means(clip) + brightness  # [time]
        shift = contrast * brightness + (1 - contrast) * frame_mean  # [time]
        matrices = np.empty((len(clip), 3, 4))
        matrices[:, :, :3] = contrast * colour
        matrices[:, :, 3] = shift[:, None] * colour.sum(axis=1)[None]
        frame_ops.colour_map(clip, matrices)
    if rng.random() < prob_drop:
        frame_ops.colour_map(clip, np.repeat(_LUMA[None], 3, axis=0))
    return clip


def random_erasing(
    rng: np.random.Generator,
    clip: np.ndarray,
    probability: float,
    area_range: tuple[float, float] = (0.02, 1 / 3),
    aspect_range: tuple[float, float] = (0.3, 1 / 0.3),
) -> np.ndarray:
    """With `probability`, fills one random rectangle (the same in every frame) with uniform
    uint8 noise. uint8 clip [time, height, width, 3], changed in place."""
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
            noise = rng.integers(0, 256, (box_h, box_w, clip.shape[3]), dtype=np.uint8)
            clip[:, top : top + box_h, left : left + box_w] = noise
            return clip
    return clip
