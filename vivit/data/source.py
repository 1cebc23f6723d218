"""What every video source hands to the pipeline: random access to lazily decoded videos.

A source is a sequence of `VideoRecord`s (`len(source)`, `source[i]`, `source.shard(positions)`,
`source.label_names`). Random access is what makes batches a pure function of
(seed, step, process): the pipeline picks indices, never consumes a stream.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Protocol, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class VideoRecord:
    """One video: its length, label and id, and a function that decodes chosen frames.

    `read_frames(indices)` returns uint8 [len(indices), height, width, 3]; decoding only the
    frames a clip needs keeps long videos cheap. Sources that can decode at a reduced size for
    less work (JPEG DCT scaling) also give `read_frames_reduced(indices, shorter_side)`: the
    frames at the smallest such size whose shorter side is still >= shorter_side.
    """

    num_frames: int
    label: int | np.ndarray
    key: str
    read_frames: Callable[[Sequence[int]], np.ndarray]
    read_frames_reduced: Callable[[Sequence[int], int], np.ndarray] | None = None


class VideoSource(Protocol):
    label_names: list[str] | None

    def __len__(self) -> int: ...

    def __getitem__(self, position: int) -> VideoRecord: ...

    def shard(self, positions: np.ndarray) -> "VideoSource": ...
