"""A video file on disk as a `VideoRecord`, so `--mode=predict` uses the test pipeline unchanged."""

from __future__ import annotations

import os

import av
import numpy as np

from vivit.data.source import VideoRecord


def read_video_file(path: str) -> VideoRecord:
    """Decodes every frame of `path` (any container/codec FFmpeg reads) into an unlabelled record.

    Raises FileNotFoundError for a missing file and ValueError naming the file when it holds no
    decodable video.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Video file '{path}' does not exist.")
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise ValueError("it has no video stream")
            frames = [frame.to_ndarray(format="rgb24")
                      for frame in container.decode(container.streams.video[0])]
    except (av.error.FFmpegError, ValueError) as error:
        raise ValueError(f"Cannot decode video file '{path}': {error}") from error
    if not frames:
        raise ValueError(f"Video file '{path}' has no frames.")
    video = np.stack(frames)
    return VideoRecord(
        num_frames=len(video), label=-1, key=path,
        read_frames=lambda indices: video[np.asarray(indices)],
    )
