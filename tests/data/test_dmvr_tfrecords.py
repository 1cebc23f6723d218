"""DMVR / MediaSequence TFRecords written by TensorFlow, read through every split."""

import numpy as np
import pytest

from tests.task_helpers import dataset_of
from vivit.data.tfrecord_source import index_records


def test_record_index_agrees_with_tensorflow(dmvr_dir):
    import tensorflow as tf

    path = dmvr_dir[0] / "validation.tfrecord"
    ours = [open(path, "rb").read()[o : o + n] for o, n in index_records(str(path))]
    theirs = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    assert ours == theirs


def test_train_validation_test_shapes_labels_and_views(dmvr_dir, tiny_config):
    _, videos = dmvr_dir
    train = dataset_of(tiny_config, "train", process_index=0, process_count=1)
    assert train.meta.num_examples == 9
    batch = next(train.batches())
    assert batch["inputs"].shape == (4, 4, 16, 16, 3)
    assert batch["inputs"].dtype == np.uint8
    for key, label in zip(batch["key"], batch["label"]):
        assert videos[key][1] == label

    validation = list(dataset_of(tiny_config, "validation", process_index=0,
                                  process_count=1).batches())
    keys = np.concatenate([b["key"] for b in validation])[:5]
    labels = np.concatenate([b["label"] for b in validation])[:5]
    assert [videos[k][1] for k in keys] == list(labels)
    assert np.concatenate([b["batch_mask"] for b in validation]).sum() == 5

    tiny_config.dataset_configs.num_test_clips = 4
    tiny_config.dataset_configs.do_three_spatial_crops = True
    test = dataset_of(tiny_config, "test", process_index=0, process_count=1)
    batch = next(test.batches())
    assert batch["inputs"].shape == (4, 12, 4, 16, 16, 3)
    # Frame brightness grows with the frame number: the 4 clips start at different frames.
    clip_means = batch["inputs"][0].reshape(4, 3, -1).mean(axis=(1, 2))
    assert np.all(np.diff(clip_means) > 6)
    # And the three spatial crops of one clip are different pixels.
    crops = batch["inputs"][0, :3].reshape(3, -1)
    assert not np.array_equal(crops[0], crops[1]) and not np.array_equal(crops[1], crops[2])


def test_processes_take_disjoint_slots_of_one_training_order(dmvr_dir, tiny_config):
    tiny_config.batch_size = 3
    tiny_config.dataset_configs.keep_key = True
    single = next(dataset_of(tiny_config, "train", process_index=0, process_count=1).batches())
    joined = []
    for process in range(3):
        ds = dataset_of(tiny_config, "train", process_index=process, process_count=3)
        batch = next(ds.batches())
        assert len(batch["key"]) == 1
        joined.extend(batch["key"])
    assert joined == list(single["key"])
    assert len(set(joined)) == 3


def test_missing_base_dir_is_named(tiny_config, dmvr_dir):
    tiny_config.dataset_configs.base_dir = None
    with pytest.raises(ValueError, match="dataset_configs.base_dir"):
        dataset_of(tiny_config, "train", process_index=0, process_count=1)
    tiny_config.dataset_configs.base_dir = str(dmvr_dir[0] / "nope")
    with pytest.raises(FileNotFoundError, match="nope"):
        dataset_of(tiny_config, "train", process_index=0, process_count=1)


def test_table_matching_nothing_is_named(tiny_config, dmvr_dir):
    tiny_config.dataset_configs.tables.validation = "val_*.tfrecord"
    expected = r"dataset_configs.tables.validation='val_\*"
    with pytest.raises(FileNotFoundError, match=expected):
        dataset_of(tiny_config, "validation", process_index=0, process_count=1)
    tiny_config.dataset_configs.tables.train = "train.tfrecord@4"
    expected = "4 of 4 shards missing.*train.tfrecord-00000-of-00004"
    with pytest.raises(FileNotFoundError, match=expected):
        dataset_of(tiny_config, "train", process_index=0, process_count=1)


def test_record_without_frames_names_file_and_key(tiny_config, tmp_path, dmvr_writer):
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    dmvr_writer(tmp_path / "bad.tfrecord", [(frames, 1, "x")], frames_key="image/jpeg")
    tiny_config.dataset_name = "video_tfrecord_dataset"
    dc = tiny_config.dataset_configs
    dc.base_dir, dc.tables.validation, dc.num_classes = str(tmp_path), "bad.tfrecord", 5
    ds = dataset_of(tiny_config, "validation", process_index=0, process_count=1)
    with pytest.raises(ValueError, match=r"bad.tfrecord \(record 0\).*'image/encoded'"):
        next(ds.batches())


def test_label_outside_num_classes_names_file_and_key(tiny_config, dmvr_dir):
    tiny_config.dataset_configs.num_classes = 4  # validation labels are 4, 0, 1, 2, 3
    ds = dataset_of(tiny_config, "validation", process_index=0, process_count=1)
    expected = r"validation.tfrecord \(record 0\).*'clip/label/index' = 4"
    with pytest.raises(ValueError, match=expected):
        list(ds.batches())


def test_label_offset(tiny_config, dmvr_dir):
    tiny_config.dataset_configs.label_offset = 1
    ds = dataset_of(tiny_config, "validation", process_index=0, process_count=1)
    assert ds.source[2].label == 0  # stored label 1
    with pytest.raises(ValueError, match="label_offset 1"):
        ds.source[1]  # stored label 0 -> -1


def test_multi_label_records_give_multi_hot(tiny_config, tmp_path, dmvr_writer):
    frames = np.zeros((5, 16, 16, 3), np.uint8)
    dmvr_writer(tmp_path / "ml.tfrecord", [(frames, [0, 3], "a"), (frames, 2, "b")])
    tiny_config.dataset_name = "video_tfrecord_dataset"
    tiny_config.model_name = "vivit_multilabel_classification"
    dc = tiny_config.dataset_configs
    dc.base_dir, dc.tables.validation, dc.num_classes = str(tmp_path), "ml.tfrecord", 4
    (batch,) = dataset_of(tiny_config, "validation", process_index=0, process_count=1).batches()
    assert batch["label"].dtype == np.float32
    np.testing.assert_array_equal(batch["label"][:2], [[1, 0, 0, 1], [0, 0, 1, 0]])
    # A single-label model refuses a record with two labels, naming the record.
    tiny_config.model_name = "vivit_classification"
    ds = dataset_of(tiny_config, "validation", process_index=0, process_count=1)
    with pytest.raises(ValueError, match=r"ml.tfrecord \(record 0\).*2 values"):
        next(ds.batches())


def test_multi_head_records_give_one_index_per_head(tiny_config, tmp_path, dmvr_writer):
    frames = np.zeros((5, 16, 16, 3), np.uint8)
    dmvr_writer(tmp_path / "ek.tfrecord", [(frames, [4, 1], "a"), (frames, [0, 2], "b")])
    dmvr_writer(tmp_path / "bad.tfrecord", [(frames, [2, 3], "c"), (frames, [1], "d")])
    tiny_config.dataset_name = "video_tfrecord_dataset"
    tiny_config.model_name = "vivit_multihead_classification"
    dc = tiny_config.dataset_configs
    dc.base_dir, dc.tables.validation, dc.num_classes = str(tmp_path), "ek.tfrecord", None
    dc.class_splits, dc.split_names = [5, 3], ["noun", "verb"]
    ds = dataset_of(tiny_config, "validation", process_index=0, process_count=1)
    assert ds.meta.num_classes == 8
    (batch,) = ds.batches()
    assert batch["label"].dtype == np.int32
    np.testing.assert_array_equal(batch["label"][:2], [[4, 1], [0, 2]])
    dc.tables.validation = "bad.tfrecord"
    ds = dataset_of(tiny_config, "validation", process_index=0, process_count=1)
    with pytest.raises(ValueError, match=r"bad.tfrecord \(record 0\).*value 1 = 3.*head 1's 3"):
        ds.source[0]
    with pytest.raises(ValueError, match=r"bad.tfrecord \(record 1\).*1 values.*one per head"):
        ds.source[1]


def test_frames_twice_the_needed_size_decode_reduced_to_the_same_clip(tmp_path, tiny_config,
                                                                      dmvr_writer):
    """72x96 JPEGs for a 16-pixel shorter side decode at a quarter size (JPEG DCT scaling),
    and the clips are those of decoding whole frames and resizing them."""
    import dataclasses

    from PIL import Image, ImageFilter

    from vivit.data import preprocess

    rng = np.random.default_rng(0)
    frames = np.stack([np.asarray(Image.fromarray(
        rng.integers(0, 256, (72, 96, 3), dtype=np.uint8)).filter(ImageFilter.GaussianBlur(4)))
        for _ in range(6)])
    dmvr_writer(tmp_path / "big.tfrecord", [(frames, 1, "big")])
    dc = tiny_config.dataset_configs
    tiny_config.dataset_name = "video_tfrecord_dataset"
    dc.base_dir, dc.num_classes = str(tmp_path), 5
    dc.tables.validation = dc.tables.test = "big.tfrecord"
    dc.num_frames, dc.stride = 4, 1
    source = dataset_of(tiny_config, "validation", process_index=0, process_count=1).source
    record = source[0]
    assert record.read_frames_reduced([0, 1], 16).shape == (2, 18, 24, 3)
    assert record.read_frames_reduced([0], 36).shape == (1, 36, 48, 3)
    assert record.read_frames_reduced([0], 37).shape == (1, 72, 96, 3)
    settings = preprocess.ClipSettings.from_config(dc)
    reduced = preprocess.validation_clip(record, settings).astype(int)
    whole = preprocess.validation_clip(
        dataclasses.replace(record, read_frames_reduced=None), settings)
    assert reduced.shape == whole.shape == (4, 16, 16, 3)
    assert np.abs(reduced - whole).mean() < 1  # 0.44 here
