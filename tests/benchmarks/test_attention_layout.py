"""benchmarks/attention_layout.py times every attention formulation at a tiny size and reports
each one's speed relative to Flax's kernel."""

import os
import re
import subprocess
import sys

from tests.benchmarks.test_models_benchmark import ROOT

SCRIPT = os.path.join(ROOT, "benchmarks", "attention_layout.py")
ROW = re.compile(r"^\| ([^|]+?) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \| ([\d.]+)x \|$", re.M)


def test_every_formulation_is_timed_and_compared_with_flax(tmp_path):
    result = subprocess.run(
        [sys.executable, SCRIPT, "--tokens=9", "--heads=2", "--head_dim=4", "--steps=2",
         "--rounds=1"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {name: [float(v) for v in values] for name, *values in ROW.findall(result.stdout)}
    assert set(rows) == {"flax", "flax heads-major", "jax.nn xla", "ours float32 softmax",
                         "torch sdpa", "torch eager"}, result.stdout
    assert rows["flax"][2:] == [1.0, 1.0]
    for name, (forward, both, forward_ratio, both_ratio) in rows.items():
        assert min(forward, both, forward_ratio, both_ratio) > 0, name


def test_an_unknown_flag_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, "--no_such_flag=1"], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
