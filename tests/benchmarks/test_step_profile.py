"""benchmarks/step_profile.py attributes kernel wall time to model parts, at a tiny size."""

import os
import re
import subprocess
import sys

from tests.benchmarks import import_benchmark
from tests.benchmarks.test_models_benchmark import ROOT, TINY

SCRIPT = os.path.join(ROOT, "benchmarks", "step_profile.py")


def test_instruction_names_map_to_the_pass_and_the_model_part():
    step_profile = import_benchmark("step_profile")
    hlo = "\n".join([
        '  %dot.1 = f32[2,3]{1,0} dot(%a, %b), metadata={op_name="jit(loss)/transpose(jvp('
        'ViViT))/Transformer/encoderblock_3/MlpBlock_0/Dense_0/dot_general"}',
        '  %ynn_fusion.7 = f32[2,3]{1,0} fusion(%a), kind=kCustom, metadata={op_name='
        '"jit(loss)/jvp(ViViT)/Transformer/encoderblock_0/MultiHeadDotProductAttention_0/'
        'query/dot_general"}',
        '  %fusion.2 = f32[2]{0} fusion(%a), metadata={op_name="jit(<lambda>)/ViViT/'
        'ViViT._tokenize/embedding/conv_general_dilated"}',
        '  %constant.3 = f32[] constant(0)',
    ])
    assert step_profile.instruction_parts(hlo) == {
        "dot.1": ("backward", "MlpBlock_0/Dense_0"),
        "ynn_fusion.7": ("forward", "MultiHeadDotProductAttention_0/query"),
        "fusion.2": ("forward", "embedding/conv_general_dilated"),
    }


def test_wall_time_counts_overlapping_kernels_once():
    step_profile = import_benchmark("step_profile")
    # Two kernels side by side from 0 to 10 ms and 5 to 12 ms, one more from 20 to 25: 17 ms
    # over 1 call, 8.5 ms per call over 2.
    intervals = [(0, 10_000_000), (5_000_000, 12_000_000), (20_000_000, 25_000_000)]
    assert step_profile._union_ms(intervals, 1) == 17.0
    assert step_profile._union_ms(intervals, 2) == 8.5


def test_the_profile_runs_and_lists_the_parts(tmp_path):
    args = [a for a in TINY if not a.startswith("--matmul_size")]
    result = subprocess.run([sys.executable, SCRIPT, *args, "--variants=spacetime", "--top=4"],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = re.search(r"inference forward ([\d.]+) ms; forward \+ backward: forward part "
                        r"([\d.]+) ms, backward part ([\d.]+) ms", result.stdout)
    assert summary, result.stdout
    rows = re.findall(r"^\| ([^|]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", result.stdout, re.M)
    assert len(rows) == 4, result.stdout
    names = [row[0] for row in rows]
    assert any(name.startswith(("MlpBlock_0", "MultiHeadDotProductAttention_0"))
               for name in names), names
