"""A video file on disk as a `VideoRecord`, so `--mode=predict` uses the test pipeline unchanged;
and the video files a list of files and directories names."""

from __future__ import annotations

import os
from typing import Sequence

import av
import numpy as np

from vivit.data.source import VideoRecord

# What a directory given to --mode=predict expands to (case-insensitive).
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                    ".flv", ".3gp", ".ogv", ".ts")


def expand_video_paths(paths: Sequence[str]) -> list[tuple[str, str | None]]:
    """(path, None) for each video to read, (path, error) for each argument that gives none.

    A directory stands for the files with a video extension below it (recursively, sorted); a
    file is taken as it is (whatever its extension) and a missing path is an error.
    """
    expanded: list[tuple[str, str | None]] = []
    for path in paths:
        if os.path.isdir(path):
            videos = sorted(
                os.path.join(root, name)
                for root, _, names in os.walk(path) for name in names
                if name.lower().endswith(VIDEO_EXTENSIONS))
            if not videos:
                expanded.append((path, f"Directory '{path}' holds no video files "
                                       f"({' '.join(VIDEO_EXTENSIONS)})."))
            expanded.extend((video, None) for video in videos)
        elif os.path.isfile(path):
            expanded.append((path, None))
        else:
            expanded.append((path, f"Video file '{path}' does not exist."))
    return expanded


def read_video_file(path: str) -> VideoRecord:
    """Decodes every frame of `path` (any container/codec FFmpeg reads) into an unlabelled record.

    Raises FileNotFoundError for a missing file and ValueError naming the file when it holds no
    decodable video.
    """
    if os.path.isdir(path):
        raise IsADirectoryError(f"'{path}' is a directory, not a video file.")
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
