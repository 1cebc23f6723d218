"""Turns one `VideoRecord` into model inputs for a split: sample frames, resize, crop, augment.

train: random clip, (scale-jittered) shorter-side resize, random crop, optional flip, then
RandAugment or colour jitter, then random erasing. validation: middle clip, centre crop.
test: num_test_clips evenly spaced clips x (3 spatial crops or 1 centre crop), giving
[views, T, H, W, 3]. Clips stay uint8 pixels: the device converts them to the model's range
(`vivit.train.pixels`), which moves 4x fewer bytes than float32 would.
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

    def input_shape(self, inputs: str = "video") -> tuple[int, ...]:
        """One example as the model takes it, without the batch axis: [time, crop, crop, 3] for
        a video model, [crop, crop, 3] for an image model (`inputs`: the task's "video" or
        "image"). The one place the model's input shape is derived from the config."""
        if inputs == "video":
            return (self.num_frames, self.crop_size, self.crop_size, 3)
        if inputs == "image":
            return (self.crop_size, self.crop_size, 3)
        raise ValueError(f"inputs must be 'video' or 'image', got {inputs!r}.")


def _read(record: VideoRecord, indices: np.ndarray, shorter_side: int) -> np.ndarray:
    """The frames at `indices`, decoded at a reduced size when the source can (JPEG DCT
    scaling) and the shorter side stays >= shorter_side, the size the resize needs."""
    if record.read_frames_reduced is not None:
        return record.read_frames_reduced(indices, shorter_side)
    return record.read_frames(indices)


def train_clip(record: VideoRecord, settings: ClipSettings, rng: np.random.Generator) -> np.ndarray:
    """uint8 [T, crop, crop, 3] from one random clip with the training augmentations."""
    aug = settings.augmentation
    indices = sampling.random_clip(rng, record.num_frames, settings.num_frames, settings.stride)
    shorter = settings.min_resize
    if aug.do_jitter_scale:
        shorter = transforms.scale_jitter_shorter_side(
            rng, settings.min_resize, settings.crop_size, aug.scale_min_factor,
            aug.scale_max_factor, aug.prob_scale_jitter,
        )
    clip = transforms.random_resized_crop(
        rng, _read(record, indices, shorter), shorter, settings.crop_size,
        flip_probability=0.5 if settings.random_flip else 0.0)
    if aug.do_rand_augment:
        clip = randaugment.rand_augment(
            rng, clip, aug.rand_augment_num_layers, aug.rand_augment_magnitude)
    elif aug.do_color_augment:
        clip = transforms.colour_jitter(rng, clip, aug.prob_color_augment, aug.prob_color_drop)
    if aug.random_erasing_prob > 0:
        clip = transforms.random_erasing(rng, clip, aug.random_erasing_prob)
    return clip


def validation_clip(record: VideoRecord, settings: ClipSettings) -> np.ndarray:
    """uint8 [T, crop, crop, 3]: the middle clip, centre crop."""
    indices = sampling.middle_clip(record.num_frames, settings.num_frames, settings.stride)
    frames = _read(record, indices, settings.min_resize)
    return transforms.centre_crop(
        transforms.resize_shorter_side(frames, settings.min_resize), settings.crop_size)


def test_views(record: VideoRecord, settings: ClipSettings) -> np.ndarray:
    """uint8 [views, T, crop, crop, 3]: clips in time order, each with its spatial crops."""
    clips = sampling.evenly_spaced_clips(
        record.num_frames, settings.num_frames, settings.stride, settings.num_test_clips
    )
    # Decode and resize every needed frame once; the views are crops of them.
    unique, positions = np.unique(clips, return_inverse=True)
    frames = transforms.resize_shorter_side(
        _read(record, unique, settings.min_resize), settings.min_resize)
    size = settings.crop_size
    spatial = (transforms.three_crops(frames, size) if settings.do_three_spatial_crops
               else [transforms.centre_crop(frames, size)])  # views of every frame, no copies
    views = np.empty((len(clips) * len(spatial), settings.num_frames, size, size, 3), np.uint8)
    for clip_index, clip_positions in enumerate(positions.reshape(clips.shape)):
        for crop_index, cropped in enumerate(spatial):
            view = views[clip_index * len(spatial) + crop_index]
            for frame, position in enumerate(clip_positions):  # Row copies: 7x np.take's speed.
                view[frame] = cropped[position]
    return views
