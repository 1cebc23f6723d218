"""A tiny TFDS video dataset, prepared as ArrayRecord in a temporary folder, read by every split."""

import numpy as np
import pytest

from tests.tiny_tfds import NAME, build_tiny_videos


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("tfds"))
    build_tiny_videos(data_dir)
    return data_dir


@pytest.fixture
def tfds_config(tiny_config, tfds_dir):
    tiny_config.dataset_name = "tfds"
    dc = tiny_config.dataset_configs
    dc.tfds.name, dc.tfds.data_dir = NAME, tfds_dir
    dc.tfds.splits.validation = "test"
    dc.num_classes, dc.min_resize, dc.crop_size, dc.keep_key = 3, 12, 12, True
    return tiny_config


def test_tfds_splits(tfds_config):
    from tests.task_helpers import dataset_of

    train = dataset_of(tfds_config, "train", process_index=0, process_count=1)
    assert train.meta.num_examples == 6 and train.meta.label_names == ["a", "b", "c"]
    batch = next(train.batches())
    assert batch["inputs"].shape == (4, 4, 12, 12, 3)
    # Pixel values are 10 * t + i for example i (frames stored losslessly): recover i.
    values = batch["inputs"][:, 0, 0, 0, 0].astype(int)
    np.testing.assert_array_equal(values % 10 % 3, batch["label"])

    validation = list(dataset_of(tfds_config, "validation", process_index=0,
                                  process_count=1).batches())
    assert len(validation) == 1 and validation[0]["batch_mask"].sum() == 3

    tfds_config.dataset_configs.num_test_clips = 3
    test = next(dataset_of(tfds_config, "test", process_index=1, process_count=2).batches())
    assert test["inputs"].shape == (2, 3, 4, 12, 12, 3)
    means = test["inputs"][0].mean(axis=(1, 2, 3, 4))
    assert np.all(np.diff(means) > 1)


def test_tfds_missing_feature_is_named(tfds_config):
    from tests.task_helpers import dataset_of

    tfds_config.dataset_configs.tfds.video_key = "frames"
    ds = dataset_of(tfds_config, "train", process_index=0, process_count=1)
    with pytest.raises(KeyError, match="dataset_configs.tfds.video_key"):
        next(ds.batches())
