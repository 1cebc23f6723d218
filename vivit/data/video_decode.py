"""Decodes a video file with PyAV into JPEG frames, trimmed and resized (for `prepare`)."""

from __future__ import annotations

import io

import av
from PIL import Image


def decode_to_jpegs(
    path: str,
    *,
    min_resize: int,
    start_seconds: float | None = None,
    end_seconds: float | None = None,
    jpeg_quality: int = 90,
) -> list[bytes]:
    """JPEG bytes of every frame in [start, end) seconds (all frames if the file is shorter than
    `end`: such files are already trimmed), shorter side resized to `min_resize`.

    Raises av.error.FFmpegError (or ValueError) for files that cannot be decoded.
    """
    jpegs = []
    with av.open(path) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        duration = float(container.duration / av.time_base) if container.duration else None
        trim = (
            end_seconds is not None and duration is not None and duration >= end_seconds
        )
        for frame in container.decode(stream):
            if trim and frame.time is not None:
                if frame.time < start_seconds:
                    continue
                if frame.time >= end_seconds:
                    break
            image = frame.to_image()
            width, height = image.size
            scale = min_resize / min(width, height)
            if scale != 1:
                size = (max(1, round(width * scale)), max(1, round(height * scale)))
                image = image.resize(size, Image.BILINEAR)
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=jpeg_quality)
            jpegs.append(buffer.getvalue())
    return jpegs
