"""benchmarks/data_pipeline.py runs end to end at tiny sizes and reports every recipe."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.benchmarks import import_benchmark

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "data_pipeline.py")


@pytest.mark.slow
def test_benchmark_reports_each_recipe_for_each_worker_count(tmp_path):
    result = subprocess.run(
        [sys.executable, SCRIPT, "--video_size=48,64", "--video_frames=12", "--num_frames=4",
         "--crop_size=32", "--batches=1", "--batch_size=2", "--workers=1,2",
         "--noconsumption"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rates = re.findall(r"workers=(\d)\s+(k400 train|ssv2 train|test 4x3)\s+([\d.]+) .*, "
                       r"([\d.]+) per CPU second", result.stdout)
    assert sorted((w, name) for w, name, _, _ in rates) == sorted(
        (w, name) for w in "12" for name in ("k400 train", "ssv2 train", "test 4x3"))
    assert all(float(rate) > 0 and float(per_cpu) > 0 for _, _, rate, per_cpu in rates)
    shares = re.findall(r"(k400 train|ssv2 train|test 4x3)\s+(\d+)% in OpenCV", result.stdout)
    assert sorted(name for name, _ in shares) == ["k400 train", "ssv2 train", "test 4x3"]
    assert all(0 < int(share) < 100 for _, share in shares)


def test_benchmark_frames_look_like_video_not_noise():
    data_pipeline = import_benchmark("data_pipeline")
    frames = data_pipeline.video_frames(np.random.default_rng(0), 4, 48, 64).astype(float)
    # Smooth in space: neighbours differ by a few levels of fine texture, against ~85 for uniform
    # noise (the mean |difference| of two independent uniform bytes); and moving in time.
    assert np.abs(np.diff(frames, axis=2)).mean() < 10
    assert np.abs(frames[1:] - frames[:-1]).max() > 50
