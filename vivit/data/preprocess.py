"""Turns one `VideoRecord` into model inputs for a split: sample frames, resize, crop, augment.

train: random clip, (scale-jittered) shorter-side resize, random crop, optional flip, then
RandAugment or colour jitter, then random erasing. validation: middle clip, centre crop.
test: num_test_clips evenly spaced clips x (3 spatial crops or 1 centre crop), giving
[views, T, H, W, 3].
"""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np

from vivit.data import randaugment, sampling, transforms
from vivit.data.source import VideoRecord


@dataclasses.dataclass(frozen=True)
class ClipSettings:
    """The dataset_configs keys that shape a clip, read once."""

    num_frames: int
    stride: int
    min_resize: int
    crop_size: int
    zero_centering: bool
    num_test_clips: int
    do_three_spatial_crops: bool
    random_flip: bool
    augmentation: ml_collections.ConfigDict

    @classmethod
    def from_config(cls, dataset_configs: ml_collections.ConfigDict) -> "ClipSettings":
        settings = cls(
            num_frames=int(dataset_configs.num_frames),
            stride=int(dataset_configs.stride),
            min_resize=int(dataset_configs.min_resize),
            crop_size=int(dataset_configs.crop_size),
            zero_centering=bool(dataset_configs.zero_centering),
            num_test_clips=int(dataset_configs.num_test_clips),
            do_three_spatial_crops=bool(dataset_configs.do_three_spatial_crops),
            random_flip=bool(dataset_configs.random_flip),
            augmentation=dataset_configs.augmentation_params,
        )
        if settings.crop_size > settings.min_resize:
            raise ValueError(
                f"dataset_configs.crop_size ({settings.crop_size}) must be <= "
                f"dataset_configs.min_resize ({settings.min_resize})."
            )
        return settings

    @property
    def views(self) -> int:
        return self.num_test_clips * (3 if self.do_three_spatial_crops else 1)


def _finish(clip: np.ndarray, settings: ClipSettings) -> np.ndarray:
    """float [0, 1] or uint8 -> float32 [-1, 1] (zero-centering) or [0, 1]; uint8 in one pass."""
    if clip.dtype == np.uint8:
        out = clip.astype(np.float32)  # In place from here: the same arithmetic, no copies.
        out /= np.float32(255.0)
        if settings.zero_centering:
            out *= np.float32(2.0)
            out -= np.float32(1.0)
        return out
    # Float clips here are the train path's own arrays (made by to_float): scaled in place.
    clip = clip.astype(np.float32, copy=False)
    if settings.zero_centering:
        clip *= np.float32(2.0)
        clip -= np.float32(1.0)
    return clip


def train_clip(record: VideoRecord, settings: ClipSettings, rng: np.random.Generator) -> np.ndarray:
    """float32 [T, crop, crop, 3] from one random clip with the training augmentations."""
    aug = settings.augmentation
    frames = record.read_frames(
        sampling.random_clip(rng, record.num_frames, settings.num_frames, settings.stride)
    )
    shorter = settings.min_resize
    if aug.do_jitter_scale:
        shorter = transforms.scale_jitter_shorter_side(
            rng, settings.min_resize, settings.crop_size, aug.scale_min_factor,
            aug.scale_max_factor, aug.prob_scale_jitter,
        )
    clip = transforms.random_resized_crop(rng, frames, shorter, settings.crop_size)
    if settings.random_flip:
        clip = transforms.random_flip(rng, clip)
    if aug.do_rand_augment:
        clip = randaugment.rand_augment(
            rng, np.ascontiguousarray(clip), aug.rand_augment_num_layers,
            aug.rand_augment_magnitude,
        )
    if aug.do_color_augment and not aug.do_rand_augment:
        clip = transforms.colour_jitter(
            rng, transforms.to_float(clip), aug.prob_color_augment, aug.prob_color_drop)
    if aug.random_erasing_prob > 0:
        clip = transforms.to_float(clip) if clip.dtype == np.uint8 else clip
        clip = transforms.random_erasing(rng, clip, aug.random_erasing_prob)
    return _finish(clip, settings)


def validation_clip(record: VideoRecord, settings: ClipSettings) -> np.ndarray:
    """float32 [T, crop, crop, 3]: the middle clip, centre crop."""
    frames = record.read_frames(
        sampling.middle_clip(record.num_frames, settings.num_frames, settings.stride)
    )
    clip = transforms.centre_crop(
        transforms.resize_shorter_side(frames, settings.min_resize), settings.crop_size
    )
    return _finish(clip, settings)


def test_views(record: VideoRecord, settings: ClipSettings) -> np.ndarray:
    """float32 [views, T, crop, crop, 3]: clips in time order, each with its spatial crops."""
    clips = sampling.evenly_spaced_clips(
        record.num_frames, settings.num_frames, settings.stride, settings.num_test_clips
    )
    # Decode every needed frame once, then cut the clips out of them.
    unique, positions = np.unique(clips, return_inverse=True)
    frames = transforms.resize_shorter_side(record.read_frames(unique), settings.min_resize)
    views = []
    for clip_positions in positions.reshape(clips.shape):
        clip = frames[clip_positions]
        if settings.do_three_spatial_crops:
            views.extend(transforms.three_crops(clip, settings.crop_size))
        else:
            views.append(transforms.centre_crop(clip, settings.crop_size))
    return _finish(np.stack(views), settings)
