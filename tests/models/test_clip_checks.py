"""A clip the patches do not tile is refused when the model is built, naming both keys: a
tubelet longer than the clip (no token in time), and patch sizes that drop pixels or frames."""

import pytest

from vivit.config import complete, load_config_file
from tests.task_helpers import model_of


def _demo(**overrides):
    config = complete(load_config_file("configs/demo.py"))
    for key, value in overrides.items():
        section = config
        *parents, leaf = key.split(".")
        for name in parents:
            section = section[name]
        section[leaf] = value
    return config


def test_the_demo_config_builds():
    model_of(_demo())


@pytest.mark.parametrize("classifier", ["token", "gap"])
def test_a_tubelet_longer_than_the_clip_is_refused(classifier):
    config = _demo(**{"dataset_configs.num_frames": 1, "model.classifier": classifier})
    with pytest.raises(ValueError, match=r"model\.patches\.size\[2\]=2 \(tubelet time\) is longer "
                       r"than the clip, dataset_configs\.num_frames=1"):
        model_of(config)


def test_a_tubelet_that_does_not_divide_the_frames_is_refused():
    config = _demo(**{"dataset_configs.num_frames": 7})
    with pytest.raises(ValueError, match=r"model\.patches\.size\[2\]=2 \(tubelet time\) must divide "
                       r"dataset_configs\.num_frames=7"):
        model_of(config)


def test_a_patch_that_does_not_divide_the_crop_is_refused():
    config = _demo(**{"dataset_configs.crop_size": 30})
    with pytest.raises(ValueError, match=r"model\.patches\.size\[0\]=8 \(patch height\) does not "
                       r"divide dataset_configs\.crop_size=30"):
        model_of(config)


def test_frame_sampling_checks_the_crop_but_not_the_frame_count():
    config = _demo(**{"model.temporal_encoding_config.method": "temporal_sampling",
                      "model.temporal_encoding_config.n_sampled_frames": 3,
                      "model.patches.size": (8, 8)})
    model_of(config)  # 3 sampled frames of 8: no divisibility needed in time.
    config.dataset_configs.crop_size = 28
    with pytest.raises(ValueError, match=r"does not divide dataset_configs\.crop_size=28"):
        model_of(config)
