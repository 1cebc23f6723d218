"""CvT in the trainer: the image model is refused on video data with one line; the CvT factorized
encoder demo (configs/demo_cvt_fe.py) learns the synthetic motion classes."""

import pytest

import trainer
from vivit.config import load_config


def test_training_the_cvt_image_model_on_video_is_refused_before_the_workdir_is_written(tmp_path):
    config = load_config("configs/demo_cvt_fe.py",
                         ["model_name=cvt_classification", "model.variant=cvt-tiny"])
    workdir = tmp_path / "work"
    with pytest.raises(ValueError, match=r"model_name='cvt_classification' takes images, but "
                       r"every dataset here gives video clips \(dataset_name='synthetic_motion'\)"
                       ) as err:
        trainer.train_and_evaluate(config, str(workdir))
    assert "\n" not in str(err.value)
    assert not workdir.exists()
