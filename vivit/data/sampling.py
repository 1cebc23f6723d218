"""Which frames of a video make a clip (train: random, validation: middle, test: evenly spaced).

A clip is `num_frames` frames `stride` apart, spanning (num_frames - 1) * stride + 1 video frames.
Videos shorter than that span loop: frame indices wrap around modulo the video length (as DMVR's
sampling does), so every clip has exactly num_frames frames.
"""

from __future__ import annotations

import numpy as np


def clip_span(num_frames: int, stride: int) -> int:
    """Number of video frames one clip covers."""
    return (num_frames - 1) * stride + 1


def _clip_at(start: int, video_length: int, num_frames: int, stride: int) -> np.ndarray:
    return (start + stride * np.arange(num_frames)) % video_length


def random_clip(
    rng: np.random.Generator, video_length: int, num_frames: int, stride: int
) -> np.ndarray:
    """Frame indices [num_frames] of a clip starting at a uniformly random frame."""
    _check(video_length, num_frames, stride)
    last_start = max(video_length - clip_span(num_frames, stride), 0)
    return _clip_at(int(rng.integers(0, last_start + 1)), video_length, num_frames, stride)


def middle_clip(video_length: int, num_frames: int, stride: int) -> np.ndarray:
    """Frame indices [num_frames] of the clip centred in the video."""
    _check(video_length, num_frames, stride)
    start = max(video_length - clip_span(num_frames, stride), 0) // 2
    return _clip_at(start, video_length, num_frames, stride)


def evenly_spaced_clips(
    video_length: int, num_frames: int, stride: int, num_clips: int
) -> np.ndarray:
    """Frame indices [num_clips, num_frames]: first clip at the start, last at the end.

    With a single clip this is the middle clip. Clips coincide only when the video is too short
    to hold them apart.
    """
    _check(video_length, num_frames, stride)
    if num_clips < 1:
        raise ValueError(f"dataset_configs.num_test_clips must be >= 1, got {num_clips}.")
    if num_clips == 1:
        return middle_clip(video_length, num_frames, stride)[None]
    last_start = max(video_length - clip_span(num_frames, stride), 0)
    starts = np.round(np.linspace(0, last_start, num_clips)).astype(np.int64)
    return np.stack([_clip_at(int(s), video_length, num_frames, stride) for s in starts])


def _check(video_length: int, num_frames: int, stride: int) -> None:
    if video_length < 1:
        raise ValueError("Cannot sample a clip from a video with no frames.")
    if num_frames < 1 or stride < 1:
        raise ValueError(
            f"dataset_configs.num_frames ({num_frames}) and dataset_configs.stride ({stride}) "
            "must be >= 1."
        )
