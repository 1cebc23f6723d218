"""Shared config for the data tests: tiny synthetic clips."""

import pytest

from vivit.config import default_config


@pytest.fixture
def tiny_config():
    config = default_config()
    dc = config.dataset_configs
    dc.num_classes = 10
    dc.num_frames = 4
    dc.stride = 2
    dc.min_resize = 16
    dc.crop_size = 16
    dc.random_flip = False
    dc.synthetic.num_train_examples = 40
    dc.synthetic.num_validation_examples = 13
    dc.synthetic.num_test_examples = 7
    dc.synthetic.video_frames = 12
    dc.synthetic.resolution = 16
    config.batch_size = 4
    return config
