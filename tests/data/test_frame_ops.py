"""OpenCV's per-frame work: close to PIL's bilinear, reduced JPEG decoding, one thread."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from vivit.data import frame_ops


def _scene(height, width, seed=0):
    """A smooth image with edges (blurred noise plus a bright box), like a video frame."""
    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(noise).filter(ImageFilter.GaussianBlur(2)))
    image = image.copy()
    image[height // 4 : height // 2, width // 3 : width // 2] = 240
    return image


def _jpeg(frame, quality=95):
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def test_opencv_runs_on_the_calling_thread_only():
    assert cv2.getNumThreads() == 1


@pytest.mark.parametrize("target", [(75, 100), (40, 53), (30, 40), (100, 133), (180, 240)])
def test_resize_is_within_about_a_level_of_pil_bilinear(target):
    """PIL widens its bilinear filter when it shrinks (antialiasing); 2-tap bilinear alone is
    2.2 levels off at a 3x shrink here (area averaging 1.0), hence area averaging above
    frame_ops.AREA_SHRINK; enlarging stays bilinear (area would be 1.2 levels off)."""
    frames = np.stack([_scene(90, 120, seed) for seed in range(2)])
    ours = frame_ops.resize(frames, *target)
    pil = np.stack([np.asarray(Image.fromarray(f).resize(target[::-1], Image.BILINEAR))
                    for f in frames])
    assert ours.shape == (2,) + target + (3,)
    assert np.abs(ours.astype(int) - pil).mean() < 1.25


def test_reduction_keeps_the_shorter_side_at_least_the_needed_size():
    assert frame_ops.reduction_for(256, 340, 256) == 1
    assert frame_ops.reduction_for(480, 640, 256) == 1  # 240 would be too small
    assert frame_ops.reduction_for(720, 1280, 256) == 2
    assert frame_ops.reduction_for(1080, 1920, 224) == 4
    assert frame_ops.reduction_for(1080, 1920, 100) == 8
    assert frame_ops.reduction_for(30, 20, 5) == 4  # ceil(20 / 4) = 5


def test_reduced_decode_is_the_image_at_a_quarter_size():
    frame = _scene(96, 128)
    encoded = _jpeg(frame)
    assert frame_ops.image_size(encoded) == (96, 128)
    full = frame_ops.decode(encoded)
    quarter = frame_ops.decode(encoded, 4)
    assert full.shape == (96, 128, 3) and quarter.shape == (24, 32, 3)
    assert np.abs(full.astype(int) - frame).mean() < 3  # RGB order, not BGR
    shrunk = cv2.resize(full, (32, 24), interpolation=cv2.INTER_AREA)
    assert np.abs(quarter.astype(int) - shrunk).mean() < 4


def test_grey_and_undecodable_images():
    grey = np.asarray(Image.fromarray(_scene(16, 20)[..., 0]).convert("L"))
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="JPEG")
    decoded = frame_ops.decode(buffer.getvalue())
    assert decoded.shape == (16, 20, 3)
    np.testing.assert_array_equal(decoded[..., 0], decoded[..., 2])
    assert frame_ops.decode(b"not an image") is None
    assert frame_ops.image_size(b"not an image") is None


def test_colour_map_is_a_rounded_saturated_affine_map_per_frame():
    clip = np.random.default_rng(0).integers(0, 256, (2, 5, 6, 3), dtype=np.uint8)
    matrices = np.zeros((2, 3, 4))
    matrices[0, :, :3] = np.eye(3) * 1.5
    matrices[1, :, :3] = np.eye(3)[::-1]
    matrices[1, :, 3] = [10.4, -300, 0]
    expected = np.stack([
        clip[0] * 1.5, clip[1][..., ::-1] + np.asarray([10.4, -300, 0])])
    out = frame_ops.colour_map(clip.copy(), matrices)
    np.testing.assert_array_equal(out, np.clip(np.round(expected), 0, 255))
