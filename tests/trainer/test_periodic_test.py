"""Multi-view tests during training: every `dataset_configs.log_test_epochs` epochs on
`steps_per_test` batches, then on the whole test split after the last step."""

import pytest

from tests.trainer.main_runner import FAST_OVERRIDES, read_scalars, run_main

pytestmark = pytest.mark.slow


def test_periodic_and_final_multiview_tests_report_their_video_counts(tmp_path):
    # 256 training examples / batch 8 = 32 steps per epoch; 5/32 of an epoch = every 5 steps.
    result = run_main(tmp_path, *FAST_OVERRIDES, "--config.num_training_steps=10",
                      "--config.lr_configs.warmup_steps=2",
                      "--config.dataset_configs.do_multicrop_test=True",
                      "--config.dataset_configs.log_test_epochs=0.15625",
                      "--config.steps_per_test=1")
    assert result.returncode == 0, result.stderr[-3000:]
    scalars = read_scalars(tmp_path)
    videos = {step: values[0] for step, values in scalars["test/num_videos"].items()}
    assert videos == {5: 8.0, 10: 16.0}  # One batch of 8 at step 5; all 16 videos at the end.
    assert set(scalars["test/accuracy"]) == set(scalars["test/single_view_accuracy"]) == {5, 10}
    assert scalars["test/views_per_video"][10] == [2.0]
