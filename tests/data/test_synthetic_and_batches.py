"""synthetic_motion through get_dataset: shapes, ranges, labels, determinism, resume, padding."""

import itertools

import numpy as np
import pytest

from tests.task_helpers import dataset_of
from vivit.data.synthetic import SyntheticMotionSource


def _take(iterator, n):
    return list(itertools.islice(iterator, n))


def test_train_batches_shape_range_and_labels(tiny_config):
    ds = dataset_of(tiny_config, "train", process_index=0, process_count=1)
    batch = next(ds.batches())
    assert batch["inputs"].shape == (4, 4, 16, 16, 3)
    # uint8 pixels; the device converts them to the model's range (vivit.train.pixels).
    assert batch["inputs"].dtype == np.uint8
    assert batch["inputs"].min() < 90 and batch["inputs"].max() > 165
    assert batch["label"].dtype == np.int32
    assert set(batch["label"]) <= set(range(10))
    np.testing.assert_array_equal(batch["batch_mask"], np.ones(4, np.float32))
    assert ds.meta.num_classes == 10 and ds.meta.num_examples == 40
    assert ds.meta.clip_shape == (4, 16, 16, 3)


def test_the_model_input_shape_has_one_home(tiny_config):
    """The state is planned (ClipSettings.input_shape, as vivit.flops.clip_shape reads it) for
    the very clips the pipeline gives."""
    from vivit.data.preprocess import ClipSettings
    from vivit.flops import clip_shape

    meta = dataset_of(tiny_config, "validation", process_index=0, process_count=1).meta
    assert clip_shape(tiny_config) == (1,) + meta.clip_shape == (1, 4, 16, 16, 3)
    assert clip_shape(tiny_config, "image") == (1, 16, 16, 3)
    with pytest.raises(ValueError, match="inputs must be 'video' or 'image', got 'audio'"):
        ClipSettings.from_config(tiny_config.dataset_configs).input_shape("audio")


def test_resume_reads_exactly_the_same_batches(tiny_config):
    ds = dataset_of(tiny_config, "train", process_index=0, process_count=1)
    straight = _take(ds.batches(), 14)  # crosses three epochs of 40 examples / 4
    resumed = _take(ds.batches(start_step=9), 5)
    for a, b in zip(straight[9:], resumed):
        np.testing.assert_array_equal(a["inputs"], b["inputs"])
        np.testing.assert_array_equal(a["label"], b["label"])
    # Different steps differ, and a different seed gives a different stream.
    assert not np.array_equal(straight[0]["inputs"], straight[1]["inputs"])
    tiny_config.rng_seed = 1
    other = next(dataset_of(tiny_config, "train", process_index=0, process_count=1).batches())
    assert not np.array_equal(other["inputs"], straight[0]["inputs"])


def test_every_example_once_per_epoch(tiny_config):
    ds = dataset_of(tiny_config, "train", process_index=0, process_count=1)
    first_epoch = np.concatenate([ds.train_positions(step) for step in range(10)])
    assert sorted(first_epoch) == list(range(40))


def _global_batch(config, process_count, step):
    """The batches of every process at `step`, joined in process order."""
    parts = [next(dataset_of(config, "train", process_index=p, process_count=process_count)
                  .batches(start_step=step)) for p in range(process_count)]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def test_the_global_batch_does_not_depend_on_the_number_of_processes(tiny_config):
    tiny_config.dataset_configs.keep_key = True
    tiny_config.dataset_configs.augmentation_params.do_jitter_scale = True
    for step in (0, 7):  # Step 7 crosses into the second epoch (40 examples, batches of 4).
        one = _global_batch(tiny_config, 1, step)
        two = _global_batch(tiny_config, 2, step)
        assert list(two["key"]) == list(one["key"])
        np.testing.assert_array_equal(two["inputs"], one["inputs"])
        np.testing.assert_array_equal(two["label"], one["label"])


def test_processes_read_disjoint_halves_of_each_epoch(tiny_config):
    keys = []
    for process in range(2):
        ds = dataset_of(tiny_config, "train", process_index=process, process_count=2)
        assert ds.meta.batch_size == 2 and ds.meta.num_local_examples == 40
        assert next(ds.batches())["inputs"].shape[0] == 2
        positions = np.concatenate([ds.train_positions(step) for step in range(10)])
        keys.append({ds.source[int(i)].key for i in positions})
    assert not keys[0] & keys[1]
    assert len(keys[0] | keys[1]) == 40


def test_validation_single_padded_pass(tiny_config):
    ds = dataset_of(tiny_config, "validation", process_index=0, process_count=1)
    batches = list(ds.batches())
    assert len(batches) == 4  # 13 examples, batches of 4
    masks = np.concatenate([b["batch_mask"] for b in batches])
    assert masks.sum() == 13 and masks[-3:].sum() == 0
    # Deterministic: a second pass is identical.
    again = list(ds.batches())
    np.testing.assert_array_equal(batches[0]["inputs"], again[0]["inputs"])
    # Labels are the sources' labels, in order.
    expected = [ds.source[i].label for i in range(13)]
    assert list(np.concatenate([b["label"] for b in batches])[:13]) == expected


def test_eval_batch_count_equal_across_processes(tiny_config):
    counts = [
        len(list(dataset_of(tiny_config, "validation", process_index=p,
                             process_count=2).batches()))
        for p in range(2)
    ]
    assert counts[0] == counts[1] == 4  # shares of 7 and 6, batches of 2


def test_test_views_are_different_clips(tiny_config):
    tiny_config.dataset_configs.num_test_clips = 3
    tiny_config.dataset_configs.do_three_spatial_crops = True
    tiny_config.dataset_configs.min_resize = 20
    tiny_config.dataset_configs.keep_key = True
    ds = dataset_of(tiny_config, "test", process_index=0, process_count=1)
    batch = next(ds.batches())
    assert batch["inputs"].shape == (4, 9, 4, 16, 16, 3)
    assert ds.meta.views == 9
    views = batch["inputs"][0].reshape(9, -1)
    for i, j in itertools.combinations(range(9), 2):
        assert not np.array_equal(views[i], views[j]), (i, j)
    assert batch["key"][0].startswith("synthetic_motion/")


def test_single_frame_does_not_reveal_class():
    """Frame statistics a static model could use have the same distribution in every class."""
    source = SyntheticMotionSource(
        split="train", num_examples=400, num_classes=10, video_frames=8, resolution=16, seed=0
    )
    foreground = np.zeros(10)
    for i in range(len(source)):
        record = source[i]
        frame = record.read_frames([3])[0].astype(np.float32)
        foreground[record.label] += (frame.max(-1) >= 140).mean()
    foreground /= 40
    # Shape area per class: equal within sampling noise.
    assert foreground.max() - foreground.min() < 0.25 * foreground.mean()


def test_motion_tells_the_class():
    """Translation classes: frame t is frame 0 shifted (on a torus) by speed * t the right way."""
    source = SyntheticMotionSource(
        split="train", num_examples=10, num_classes=10, video_frames=8, resolution=32, seed=0
    )

    def best_shift(record):
        first, later = record.read_frames([0, 4]).astype(np.float32)
        errors = {
            (dy, dx): np.abs(np.roll(first, (dy, dx), axis=(0, 1)) - later).mean()
            for dy in range(-8, 9) for dx in range(-8, 9)
        }
        return min(errors, key=errors.get)

    # 4 frames at 0.035 * 32 px (slow) or 0.09 * 32 px (fast) per frame.
    expected = {0: (0, 4), 1: (0, -4), 2: (4, 0), 3: (-4, 0)}
    for index in range(4):
        dy, dx = best_shift(source[index])
        ey, ex = expected[index]
        assert abs(dy - ey) <= 1 and abs(dx - ex) <= 1, (index, dy, dx)
    rotating = source[8]
    first, later = rotating.read_frames([0, 4])
    assert not np.array_equal(first, later)


def test_bad_num_classes_is_named(tiny_config):
    tiny_config.dataset_configs.num_classes = 11
    with pytest.raises(ValueError, match="dataset_configs.num_classes"):
        dataset_of(tiny_config, "train", process_index=0, process_count=1)


def test_crop_larger_than_resize_is_named(tiny_config):
    tiny_config.dataset_configs.crop_size = 32
    with pytest.raises(ValueError, match="dataset_configs.crop_size"):
        dataset_of(tiny_config, "train", process_index=0, process_count=1)


def test_multihead_labels_need_tfrecords_or_synthetic(tiny_config):
    tiny_config.model_name = "vivit_multihead_classification"
    tiny_config.dataset_configs.class_splits = [4, 2]
    tiny_config.dataset_name = "tfds"
    with pytest.raises(ValueError, match="only dataset_name='synthetic_motion' or "
                                         "'video_tfrecord_dataset' reads; got 'tfds'"):
        dataset_of(tiny_config, "train", process_index=0, process_count=1)


def test_multihead_synthetic_gives_direction_and_speed_per_video(tiny_config):
    tiny_config.model_name = "vivit_multihead_classification"
    tiny_config.dataset_configs.class_splits = [4, 2]
    ds = dataset_of(tiny_config, "validation", process_index=0, process_count=1)
    batch = next(ds.batches())
    assert batch["label"].dtype == np.int32 and batch["label"].shape == (4, 2)
    # Videos cycle through the eight translations: class = direction + 4 * speed.
    np.testing.assert_array_equal(batch["label"], [[0, 0], [1, 0], [2, 0], [3, 0]])
    assert ds.meta.num_classes == 6
    assert ds.meta.label_names == ["right", "left", "down", "up", "slow", "fast"]
    tiny_config.dataset_configs.class_splits = [5, 2]
    with pytest.raises(ValueError, match=r"class_splits must be \[4, 2\]"):
        dataset_of(tiny_config, "validation", process_index=0, process_count=1)


def test_multilabel_synthetic_shows_one_shape_per_label(tiny_config):
    tiny_config.model_name = "vivit_multilabel_classification"
    tiny_config.dataset_configs.num_classes = 4
    tiny_config.dataset_configs.synthetic.objects_per_video = 3
    source = dataset_of(tiny_config, "train", process_index=0, process_count=1).source
    counts = []
    for index in range(40):
        record = source[index]
        assert record.label.dtype == np.float32 and record.label.shape == (4,)
        counts.append(int(record.label.sum()))
    assert set(counts) == {1, 2, 3}
    # Each shape is drawn in its own colour over the background: more labels, more colours.
    many = next(i for i, c in enumerate(counts) if c == 3)
    one = next(i for i, c in enumerate(counts) if c == 1)
    colours = lambda i: len(np.unique(source[i].read_frames([0]).reshape(-1, 3), axis=0))
    assert colours(many) > colours(one) == 2
    batch = next(dataset_of(tiny_config, "train", process_index=0, process_count=1).batches())
    assert batch["label"].dtype == np.float32 and batch["label"].shape == (4, 4)
    tiny_config.dataset_configs.synthetic.objects_per_video = 5
    with pytest.raises(ValueError, match="synthetic.objects_per_video=5"):
        dataset_of(tiny_config, "train", process_index=0, process_count=1)


def test_examples_per_subset_mismatch_is_logged(tiny_config, caplog):
    tiny_config.dataset_configs.examples_per_subset.validation = 99
    dataset_of(tiny_config, "validation", process_index=0, process_count=1)
    assert "examples_per_subset.validation is 99" in caplog.text


def test_unfinished_batches_at_interpreter_exit_print_nothing(tmp_path):
    """A run that stops (or fails) with its batch generator still open exits without a
    thread-pool traceback under its own output (the pool used to join threads at teardown)."""
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "stop_early.py"
    script.write_text(textwrap.dedent("""
        import sys
        from vivit.config import default_config
        from vivit.data import get_dataset
        from vivit.tasks import task_for_config

        config = default_config()
        config.dataset_name = "synthetic_motion"
        dc = config.dataset_configs
        dc.num_classes, dc.num_frames, dc.min_resize, dc.crop_size = 4, 4, 16, 16
        dc.synthetic.video_frames, dc.synthetic.resolution = 12, 16
        config.batch_size = 4
        for split in ("train", "validation"):
            batches = get_dataset(config, split, task_for_config(config), process_index=0,
                                  process_count=1).batches()
            globals()[split] = batches  # alive until the interpreter tears down its modules
            print(split, next(batches)["inputs"].shape, flush=True)
        if sys.argv[1:] == ["fail"]:
            raise RuntimeError("the run's own error")
    """))
    for args, code in (([], 0), (["fail"], 1)):
        result = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == code, result.stderr[-2000:]
        assert "train (4, 4, 16, 16, 3)" in result.stdout
        assert "Exception ignored" not in result.stderr, result.stderr[-2000:]
        if code:
            assert result.stderr.rstrip().endswith("RuntimeError: the run's own error")
