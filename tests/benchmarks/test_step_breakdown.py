"""benchmarks/step_breakdown.py runs at a tiny size and its derived rows follow from its measured
rows (backward = forward+backward - forward; rest = step - forward+backward)."""

import os
import re
import subprocess
import sys

from tests.benchmarks.test_models_benchmark import ROOT, TINY

SCRIPT = os.path.join(ROOT, "benchmarks", "step_breakdown.py")


def _rows(stdout: str, label: str) -> dict[str, str]:
    return dict(re.findall(rf"^\| {label} \| ([^|]+?) \| (-?[\d.]+)x? \|", stdout, re.M))


def test_breakdown_prints_the_programs_and_the_parts_they_imply(tmp_path):
    args = [a for a in TINY if not a.startswith("--matmul_size")]
    result = subprocess.run(
        [sys.executable, SCRIPT, *args, "--variants=spacetime", "--rounds=1"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = _rows(result.stdout, "spacetime")
    ms = {name: float(rows[name])
          for name in ("forward", "forward+backward", "train step", "optimizer update")}
    assert all(value > 0 for value in ms.values()), ms
    # Rounded to 0.1 ms in the table, so the derived rows agree within 0.15.
    backward = float(rows["backward (derived)"])
    assert abs(backward - (ms["forward+backward"] - ms["forward"])) <= 0.15
    rest = float(rows["rest of the step (derived)"])
    assert abs(rest - (ms["train step"] - ms["forward+backward"])) <= 0.15
    extra = float(rows["rest minus the optimizer update (derived)"])
    assert abs(extra - (rest - ms["optimizer update"])) <= 0.25
    flops = dict(re.findall(r"^\| spacetime \| (forward|train step) \| [\d.]+ \| ([\d.e+-]+) \|$",
                            result.stdout, re.M))
    assert float(flops["train step"]) > float(flops["forward"]) > 0
    # A time ratio from single tiny calls can come out negative on a noisy machine.
    assert re.search(r"^\| spacetime \| backward / forward time \| -?[\d.]+x \| 1\.\d\dx FLOPs \|$",
                     result.stdout, re.M)
    # Hugging Face's Model 1 gets the same measured and derived rows, without XLA FLOPs.
    hf = _rows(result.stdout, "HF sdpa spacetime")
    hf_ms = {name: float(hf[name])
             for name in ("forward", "forward+backward", "train step", "optimizer update")}
    assert all(value > 0 for value in hf_ms.values()), hf_ms
    assert abs(float(hf["backward (derived)"])
               - (hf_ms["forward+backward"] - hf_ms["forward"])) <= 0.15
    assert "| HF sdpa spacetime | forward | " in result.stdout
    assert re.search(r"^\| HF sdpa spacetime \| train step \| [\d.]+ \| - \|$", result.stdout,
                     re.M)


def test_an_unknown_flag_is_one_line(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, "--no_such_flag=1"], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("benchmarks/step_breakdown.py: error:")
