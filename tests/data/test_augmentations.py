"""Augmentations do what they promise: one transform per clip, flip switch, ranges, label
smoothing (mixup runs on the device: tests/train/test_mixup.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vivit.data import preprocess, randaugment, sampling, transforms
from vivit.data.source import VideoRecord


def _static_record(frames=10, size=24):
    """A video whose frames are all one image (any per-frame difference is the augmentation's)."""
    image = np.random.default_rng(0).integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
    return VideoRecord(
        num_frames=frames, label=3, key="static",
        read_frames=lambda idx: np.repeat(image[None], len(idx), axis=0),
    )


@pytest.mark.parametrize("name", sorted(randaugment.OPS))
def test_each_randaugment_op_is_the_same_on_every_frame(name):
    clip = np.repeat(_static_record().read_frames([0])[:1], 3, axis=0)
    out = randaugment.OPS[name](clip, 15.0, -1.0)
    assert out.shape == clip.shape and out.dtype == np.uint8
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])


def test_full_train_augmentation_is_temporally_consistent(tiny_config):
    aug = tiny_config.dataset_configs.augmentation_params
    aug.do_jitter_scale = True
    aug.do_rand_augment = True
    aug.random_erasing_prob = 1.0
    tiny_config.dataset_configs.random_flip = True
    settings = preprocess.ClipSettings.from_config(tiny_config.dataset_configs)
    for seed in range(8):
        clip = preprocess.train_clip(_static_record(), settings, np.random.default_rng(seed))
        assert clip.shape == (4, 16, 16, 3) and clip.dtype == np.uint8
        for t in range(1, 4):
            np.testing.assert_array_equal(clip[0], clip[t])


def test_colour_jitter_is_temporally_consistent():
    clip = np.repeat(_static_record().read_frames([0]), 4, axis=0)
    for seed in range(5):
        out = transforms.colour_jitter(np.random.default_rng(seed), clip.copy(), 1.0, 0.0)
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out[0], out[3])
        assert np.abs(out.astype(int) - clip).mean() > 1
    grey = transforms.colour_jitter(np.random.default_rng(0), clip.copy(), 0.0, 1.0)
    np.testing.assert_array_equal(grey[..., 0], grey[..., 2])


def test_random_erasing_same_box_in_every_frame_with_uint8_noise():
    clip = np.zeros((3, 20, 20, 3), np.uint8)
    out = transforms.random_erasing(np.random.default_rng(1), clip.copy(), 1.0)
    changed = out != 0
    assert out.dtype == np.uint8 and changed.any()
    np.testing.assert_array_equal(changed[0], changed[2])
    assert out.max() > 200  # noise over the whole byte range
    assert transforms.random_erasing(np.random.default_rng(1), clip, 0.0) is clip


def test_flip_off_never_mirrors_and_on_does(tiny_config):
    settings_off = preprocess.ClipSettings.from_config(tiny_config.dataset_configs)
    tiny_config.dataset_configs.random_flip = True
    settings_on = preprocess.ClipSettings.from_config(tiny_config.dataset_configs)
    record = _static_record(size=16)
    image = record.read_frames([0])[0]  # [16, 24, 3]
    crops = [image[:, left : left + 16] for left in range(9)]

    def mirrored(frame):
        as_is = any(np.array_equal(frame, c) for c in crops)
        flipped = any(np.array_equal(frame[:, ::-1], c) for c in crops)
        assert as_is != flipped  # the frame is exactly one of the two
        return flipped

    off = [mirrored(preprocess.train_clip(record, settings_off, np.random.default_rng(s))[0])
           for s in range(20)]
    on = [mirrored(preprocess.train_clip(record, settings_on, np.random.default_rng(s))[0])
          for s in range(20)]
    assert not any(off)
    assert 3 <= sum(on) <= 17


def test_scale_jitter_range():
    rng = np.random.default_rng(0)
    sizes = [
        transforms.scale_jitter_shorter_side(rng, 256, 224, 0.9, 1.33, 1.0) for _ in range(200)
    ]
    assert 230 <= min(sizes) < 240 and 330 < max(sizes) <= 341
    assert transforms.scale_jitter_shorter_side(rng, 256, 224, 0.9, 1.33, 0.0) == 256


def test_sampling_train_middle_test_and_short_videos():
    rng = np.random.default_rng(0)
    starts = {int(sampling.random_clip(rng, 20, 4, 2)[0]) for _ in range(200)}
    assert starts == set(range(0, 14))  # last start 20 - 7
    np.testing.assert_array_equal(sampling.middle_clip(20, 4, 2), [6, 8, 10, 12])
    clips = sampling.evenly_spaced_clips(20, 4, 2, 3)
    np.testing.assert_array_equal(clips[:, 0], [0, 6, 13])
    # A 5-frame video is shorter than a 7-frame clip: indices loop.
    np.testing.assert_array_equal(sampling.middle_clip(5, 4, 2), [0, 2, 4, 1])


def test_three_crops_cover_left_centre_right():
    clip = np.arange(10 * 16, dtype=np.uint8).reshape(1, 10, 16, 1).repeat(3, -1)
    crops = transforms.three_crops(clip, 10)
    assert [c[0, 0, 0, 0] for c in crops] == [0, 3, 6]


def test_label_smoothing_values():
    from vivit.config import default_config
    from vivit.tasks.losses import smooth_labels
    from vivit.tasks import task_for_config

    smoothed = smooth_labels(jax.nn.one_hot(jnp.array([2]), 4), 0.2)
    np.testing.assert_allclose(smoothed, [[0.05, 0.05, 0.85, 0.05]], rtol=1e-6)
    config = default_config()
    config.label_smoothing = 1.0
    with pytest.raises(ValueError, match="label_smoothing"):
        task_for_config(config)


def _colour_jitter_step_by_step(rng, clip):
    """The jitters one after another, as written in the docs (the fused map must equal this)."""
    assert rng.random() < 1.0
    clip = clip + rng.uniform(-32 / 255, 32 / 255)
    mean = clip.mean(axis=(1, 2, 3), keepdims=True)
    clip = (clip - mean) * rng.uniform(0.6, 1.4) + mean
    grey = np.repeat((clip @ np.asarray([0.299, 0.587, 0.114]))[..., None], 3, axis=-1)
    clip = (clip - grey) * rng.uniform(0.6, 1.4) + grey
    to_yiq = np.asarray([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322],
                         [0.211, -0.523, 0.312]])
    angle = 2 * np.pi * rng.uniform(-0.1, 0.1)
    rotation = np.asarray([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)],
                           [0, np.sin(angle), np.cos(angle)]])
    clip = clip @ (np.linalg.inv(to_yiq) @ rotation @ to_yiq).T
    return np.clip(clip, 0.0, 1.0)


def test_uint8_colour_jitter_is_within_a_level_of_the_float_jitters_applied_in_turn():
    clip = np.random.default_rng(3).integers(0, 256, (3, 8, 10, 3), dtype=np.uint8)
    clip[1] //= 2  # frames with different means: contrast pulls to each frame's own mean
    for seed in range(8):
        fused = transforms.colour_jitter(np.random.default_rng(seed), clip.copy(), 1.0, 0.0)
        expected = _colour_jitter_step_by_step(np.random.default_rng(seed), clip / 255.0) * 255
        # One rounding to uint8, against the float reference: at most one level apart.
        assert np.abs(fused - expected).max() <= 1.0
        assert np.abs(fused - expected).mean() < 0.3
    # Then grey-scale: the luma of the jittered pixels, within a level too.
    rng = np.random.default_rng(0)
    dropped = transforms.colour_jitter(rng, clip.copy(), 1.0, 1.0)
    jittered = _colour_jitter_step_by_step(np.random.default_rng(0), clip / 255.0)
    luma = (jittered @ np.asarray([0.299, 0.587, 0.114]))[..., None] * 255
    assert np.abs(dropped - luma).max() <= 1.5


def test_random_resized_crop_equals_resize_then_crop():
    clip = np.random.default_rng(0).integers(0, 256, (2, 40, 60, 3), dtype=np.uint8)
    clip = np.asarray([np.asarray(_smooth(frame)) for frame in clip])
    for seed, shorter in [(0, 52), (1, 31), (2, 40), (3, 47)]:
        direct = transforms.random_resized_crop(np.random.default_rng(seed), clip, shorter, 30)
        reference = transforms.random_crop(
            np.random.default_rng(seed), transforms.resize_shorter_side(clip, shorter), 30)
        assert direct.shape == reference.shape == (2, 30, 30, 3)
        # Warping the box alone is the whole-frame resize up to fixed-point rounding.
        assert np.abs(direct.astype(int) - reference).mean() < 0.5  # a crop 1 px off: ~7
        assert np.abs(direct.astype(int) - reference).max() <= 2
        flipped = transforms.random_resized_crop(
            np.random.default_rng(seed), clip, shorter, 30, flip_probability=1.0)
        assert np.abs(flipped.astype(int) - reference[:, :, ::-1]).max() <= 2
        assert flipped.flags.c_contiguous


def test_random_resized_crop_shrinking_much_resizes_with_area_averaging():
    clip = np.asarray([np.asarray(_smooth(frame)) for frame in np.random.default_rng(1).integers(
        0, 256, (2, 90, 120, 3), dtype=np.uint8)])
    direct = transforms.random_resized_crop(np.random.default_rng(0), clip, 30, 24)
    reference = transforms.random_crop(
        np.random.default_rng(0), transforms.resize_shorter_side(clip, 30), 24)
    np.testing.assert_array_equal(direct, reference)


def _smooth(frame):
    from PIL import Image, ImageFilter
    return Image.fromarray(frame).filter(ImageFilter.GaussianBlur(3))


def _reference_ops():
    """The pixel-wise RandAugment ops written plainly in numpy (tensorflow/models' formulas)."""
    luma = np.asarray([0.299, 0.587, 0.114])

    def blend(clip, degenerate, factor):
        return np.clip(degenerate + factor * (clip - degenerate), 0, 255)

    def auto_contrast(clip):
        low = clip.min(axis=(0, 1, 2)).astype(np.float32)
        high = clip.max(axis=(0, 1, 2)).astype(np.float32)
        scale = np.where(high > low, 255.0 / np.maximum(high - low, 1), 1.0)
        offset = np.where(high > low, low, 0.0)
        return np.clip((clip - offset) * scale, 0, 255).astype(np.uint8)

    def equalize(clip):
        out = np.empty_like(clip)
        for c in range(3):
            histogram = np.bincount(clip[..., c].ravel(), minlength=256)
            cdf = np.cumsum(histogram)
            first = cdf[histogram > 0][0]
            lut = np.clip(np.round((cdf - first) / (cdf[-1] - first) * 255), 0, 255)
            out[..., c] = lut.astype(np.uint8)[clip[..., c]]
        return out

    factor = 15 / 10 * 1.8 + 0.1
    return {
        "AutoContrast": auto_contrast,
        "Equalize": equalize,
        "Solarize": lambda clip: np.where(clip < 256 - 1.5 * 256, clip, 255 - clip),
        "SolarizeAdd": lambda clip: np.where(
            clip < 128, np.clip(clip.astype(int) + int(1.5 * 110), 0, 255), clip),
        "Color": lambda clip: blend(clip, (clip @ luma)[..., None], factor),
        "Contrast": lambda clip: blend(clip, (clip @ luma).mean(), factor),
        "Brightness": lambda clip: blend(clip, 0.0, factor),
    }


@pytest.mark.parametrize("name", ["AutoContrast", "Equalize", "Solarize", "SolarizeAdd",
                                  "Color", "Contrast", "Brightness"])
def test_pixelwise_randaugment_ops_match_their_numpy_formulas(name):
    clip = np.random.default_rng(0).integers(20, 200, (3, 12, 10, 3), dtype=np.uint8)
    clip[1] //= 2
    expected = _reference_ops()[name](clip.astype(np.float64) if name in (
        "Color", "Contrast", "Brightness") else clip)
    out = randaugment.OPS[name](clip.copy(), 15.0, 1.0)
    assert out.dtype == np.uint8
    if name in ("Color", "Contrast", "Brightness"):  # rounded once, where the formula is exact
        assert np.abs(out - expected).max() <= 0.51  # OpenCV maps in float32
    else:
        np.testing.assert_array_equal(out, expected)
