"""The README's run command: the demo reaches >= 90% multi-view test accuracy (TensorBoard tag
`test/accuracy`), a single-frame control stays near chance, and the trained checkpoint serves
--mode=test and --mode=predict."""

import av
import numpy as np
import pytest

from tests.trainer.main_runner import read_scalars, run_main
from vivit.data.synthetic import SyntheticMotionSource

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    result = run_main(workdir)  # Exactly the README's command: the config file alone.
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def _final_test(workdir) -> dict[str, float]:
    scalars = read_scalars(workdir)
    step = max(scalars["test/accuracy"])
    return {tag.split("/", 1)[1]: values[step][-1]
            for tag, values in scalars.items() if tag.startswith("test/") and step in values}


def test_demo_reaches_90_percent_multiview_test_accuracy(demo_workdir):
    test = _final_test(demo_workdir)
    assert test["accuracy"] >= 0.9, test
    assert test["num_videos"] == 512 and test["views_per_video"] == 2
    assert "single_view_accuracy" in test
    scalars = read_scalars(demo_workdir)
    assert scalars["model/num_params"][1][0] > 0 and scalars["model/gflops"][1][0] > 0
    assert set(scalars["valid/accuracy"]) == {200, 400, 600}


def test_single_frame_control_stays_near_chance(tmp_path):
    result = run_main(tmp_path, config="configs/demo_single_frame.py")
    assert result.returncode == 0, result.stderr[-3000:]
    # 10 classes: chance is 0.1; 512 test videos put 0.3 far outside sampling noise.
    assert _final_test(tmp_path)["accuracy"] < 0.3


def test_mode_test_on_the_checkpoint_repeats_the_final_test(demo_workdir):
    trained = _final_test(demo_workdir)
    result = run_main(demo_workdir, "--mode=test")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"accuracy {trained['accuracy']:.4f} over 512 videos x 2 views" in result.stderr


def test_mode_eval_on_the_checkpoint_repeats_the_last_validation(demo_workdir):
    validation = read_scalars(demo_workdir)["valid/accuracy"]
    last = validation[600][0]
    result = run_main(demo_workdir, "--mode=eval", "--checkpoint=600")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"valid/accuracy={last:.6g}" in result.stderr


def _write_mp4(path, frames):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv444p"
        stream.options = {"qp": "0"}  # Lossless: the decoded clip is the rendered one.
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def test_mode_predict_prints_top5_label_names_for_video_files(demo_workdir, tmp_path):
    source = SyntheticMotionSource(split="test", num_examples=20, num_classes=10,
                                   video_frames=16, resolution=32, seed=7)
    paths, expected = [], []
    for index in range(0, 20, 4):
        record = source[index]
        path = tmp_path / f"video_{index}.mp4"
        _write_mp4(path, record.read_frames(np.arange(16)))
        paths.append(str(path))
        expected.append(source.label_names[record.label])
    result = run_main(demo_workdir, "--mode=predict", *paths)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 6 * len(paths)
    top1 = []
    for i, path in enumerate(paths):
        block = lines[6 * i: 6 * i + 6]
        assert block[0] == path
        ranks = [line.split() for line in block[1:]]
        assert [r[0] for r in ranks] == ["1.", "2.", "3.", "4.", "5."]
        scores = [float(r[2]) for r in ranks]
        assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001
        top1.append(ranks[0][1])
    assert sum(a == b for a, b in zip(top1, expected)) >= 4, (top1, expected)


def test_a_new_run_initializes_from_the_trained_workdir_at_step_0(demo_workdir, tmp_path):
    """init_from.checkpoint_path at step 0 (Orbax workdir): with the learning rate at zero the
    new run validates exactly like the checkpoint it started from."""
    result = run_main(tmp_path, f"--config.init_from.checkpoint_path={demo_workdir}",
                      "--config.num_training_steps=2", "--config.lr_configs.base_learning_rate=0.0",
                      "--config.lr_configs.warmup_steps=0", "--config.count_flops=False",
                      "--config.dataset_configs.do_multicrop_test=False")
    assert result.returncode == 0, result.stderr[-3000:]
    source = read_scalars(demo_workdir)["valid/accuracy"]
    started = read_scalars(tmp_path)["valid/accuracy"]
    assert started[2][0] == source[max(source)][0] > 0.9
