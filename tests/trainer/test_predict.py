"""--mode=predict through main.py: a directory stands for its videos, each file gets its own
result or error line, one bad file does not stop the others, and the exit code says if any
failed."""

import json
import shlex
import subprocess
import sys

import av
import jax
import numpy as np
import pytest

from tests.trainer.main_runner import (REPO_ROOT, FAST_OVERRIDES, checkpoint_steps, environment,
                                       run_main)

pytestmark = pytest.mark.slow
SHORT = FAST_OVERRIDES + ("--config.num_training_steps=2", "--config.lr_configs.warmup_steps=1",
                          "--config.checkpoint_steps=2")


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("trained")
    result = run_main(workdir, *SHORT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert checkpoint_steps(workdir) == [2]
    TRAINING_OUTPUT["stderr"] = result.stderr
    return workdir


TRAINING_OUTPUT: dict[str, str] = {}


def test_training_ends_naming_the_runs_files_and_the_next_commands(trained_workdir):
    """The last lines say where the checkpoints, TensorBoard files and config are, and give
    commands that run as printed."""
    lines = TRAINING_OUTPUT["stderr"].rstrip().splitlines()[-8:]
    assert lines[0] == f"Run {trained_workdir}:"
    assert lines[1] == f"  checkpoints  {trained_workdir / 'checkpoints'} (steps 2)"
    assert lines[2] == f"  TensorBoard  tensorboard --logdir={trained_workdir}"
    assert lines[3] == f"  config       {trained_workdir / 'config.json'}"
    commands = {line.split()[0]: line.split(None, 1)[1] for line in lines[5:]}
    assert set(commands) == {"test", "predict", "export"}
    # The demo's classifier is 'gap': Hugging Face ViViT holds only Model 1 with a class token.
    assert commands["export"].startswith("(not for this run: ") and "classifier" in \
        commands["export"]
    assert "VIDEO_OR_DIR" in commands["predict"]
    test_command = shlex.split(commands["test"])
    # No --config: the run's own config.json (with the training overrides) is used.
    assert test_command == ["python", "main.py", f"--workdir={trained_workdir}", "--mode=test"]
    result = subprocess.run([sys.executable, *test_command[1:]], cwd=REPO_ROOT,
                            env=environment(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Multi-view test at step 2" in result.stderr
    assert result.stderr.rstrip().splitlines()[-8] == f"Run {trained_workdir}:"


def _write_video(path, seed, frames=16, size=32):
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for _ in range(frames):
            image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def test_directories_expand_and_bad_files_get_their_own_error_line(trained_workdir, tmp_path):
    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    _write_video(folder / "b.mp4", 1)
    _write_video(folder / "sub" / "a.MKV", 2)  # extensions match case-insensitively
    (folder / "notes.txt").write_text("not a video")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(300))
    missing = tmp_path / "missing.mp4"
    empty = tmp_path / "empty"
    empty.mkdir()
    single = tmp_path / "single.mp4"
    _write_video(single, 3)

    result = run_main(trained_workdir, "--mode=predict", str(folder), str(corrupt), str(missing),
                      str(empty), str(single))
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    # Results for every good video, in order (the folder's files sorted), top-5 each.
    headers = [line for line in result.stdout.splitlines() if not line.startswith("  ")]
    assert headers == [str(folder / "b.mp4"), str(folder / "sub" / "a.MKV"), str(single)]
    assert len(result.stdout.splitlines()) == 3 * 6
    errors = [line for line in result.stderr.splitlines() if line.startswith("main.py: error:")]
    assert len(errors) == 3, result.stderr[-3000:]
    assert f"Cannot decode video file '{corrupt}'" in errors[0]
    assert f"Video file '{missing}' does not exist" in errors[1]
    assert f"Directory '{empty}' holds no video files (.mp4" in errors[2]


def test_all_good_files_exit_zero(trained_workdir, tmp_path):
    _write_video(tmp_path / "x.mov", 4)
    result = run_main(trained_workdir, "--mode=predict", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[0] == str(tmp_path / "x.mov")


def test_predict_needs_no_config_and_a_shape_changing_one_is_refused(trained_workdir, tmp_path):
    _write_video(tmp_path / "x.mp4", 5)
    command = [sys.executable, "main.py", f"--workdir={trained_workdir}", "--mode=predict",
               str(tmp_path / "x.mp4")]
    result = subprocess.run(command, cwd=REPO_ROOT, env=environment(), capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[0] == str(tmp_path / "x.mp4")
    assert len(result.stdout.splitlines()) == 6  # top-5 of the run's classes
    refused = run_main(trained_workdir, "--mode=predict", str(tmp_path / "x.mp4"),
                       "--config.model.mlp_dim=96")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("main.py: error: --config changes the shapes of the run's parameters")
    assert "model.mlp_dim: run 128, config 96" in last


def test_the_run_records_its_data_and_code_versions(trained_workdir):
    record = json.loads((trained_workdir / "run.json").read_text())
    start, = record["starts"]
    assert start["step"] == 0
    assert start["data"]["dataset_name"] == "synthetic_motion"
    assert start["data"]["split_sizes"] == {"train": 256, "validation": 16}
    versions = start["versions"]
    assert versions["jax"] == jax.__version__ and versions["flax"] and versions["orbax-checkpoint"]
    assert versions["vivit"] and versions["python"]
