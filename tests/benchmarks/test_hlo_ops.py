"""benchmarks/hlo_ops.py counts a compiled program's HLO opcodes and, against a real Scenic
checkout (SCENIC_DIR), prints a row per variant and program."""

import collections
import os
import re
import subprocess
import sys

import pytest

from tests.benchmarks import import_benchmark
from tests.benchmarks.test_models_benchmark import ROOT, SCENIC_DIR, TINY, needs_scenic

SCRIPT = os.path.join(ROOT, "benchmarks", "hlo_ops.py")
HLO = """HloModule m, entry_computation_layout={(f32[2]{0})->(f32[2]{0}, s32[])}

fused_computation {
  param_0 = f32[2]{0} parameter(0)
  ROOT add.1 = f32[2]{0} add(param_0, param_0)
}

ENTRY main {
  %p = f32[2]{0} parameter(0)
  %fusion = f32[2]{0} fusion(%p), kind=kLoop, calls=fused_computation
  %c = s32[] constant(1)
  ROOT %tuple = (f32[2]{0}, s32[]) tuple(%fusion, %c)
}
"""


def test_opcodes_are_counted_in_fusion_bodies_and_tuples():
    hlo_ops = import_benchmark("hlo_ops")
    counts = hlo_ops.opcode_counts(HLO)
    assert counts == {"parameter": 2, "add": 1, "fusion": 1, "constant": 1, "tuple": 1}
    assert hlo_ops.differing(counts, counts) == "-"
    other = counts + collections.Counter({"copy": 2, "add": 1})
    assert hlo_ops.differing(counts, other) == "copy 0/2, add 1/2"


def test_without_scenic_it_refuses_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, f"--scenic_dir={tmp_path}"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"benchmarks/hlo_ops.py: error: --scenic_dir={str(tmp_path)!r} is not a Scenic "
        "checkout (no scenic/projects/vivit/model.py)."]


@pytest.mark.slow
@needs_scenic
def test_a_row_per_variant_and_program_against_scenic(tmp_path):
    steps = [a for a in TINY if not a.startswith(("--steps", "--matmul"))]
    result = subprocess.run(
        [sys.executable, SCRIPT, *steps, f"--scenic_dir={SCENIC_DIR}",
         "--variants=spacetime,factorized_self_attention_block"],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for variant in ("spacetime", "factorized_self_attention_block"):
        for program in ("forward", "train"):
            assert re.search(rf"^\| {variant} \| {program} \| \d+ \| \d+ \| [\d.]+ \| [\d.]+ \| ",
                             result.stdout, re.M), result.stdout
