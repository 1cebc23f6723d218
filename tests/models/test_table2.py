"""The compute columns of the paper's Table 2 (ViViT-B/16x2, 32x224x224, 400 classes)."""

import pathlib
import subprocess
import sys

import pytest

from vivit.config import load_config_file
from vivit.flops import table2_rows
from vivit.tasks import task_for_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
# name -> (parameters in millions, GFLOPs), from the paper's Table 2.
PAPER = {
    "Model 1: Spatio-temporal": (88.9, 455.2),
    "Model 2: Fact. encoder": (115.1, 284.4),
    "Model 3: Fact. self-attention": (117.3, 372.3),
    "Model 4: Fact. dot product": (88.9, 277.1),
    "Model 2: Ave. pool baseline": (86.7, 283.9),
}


@pytest.mark.slow
def test_table2_parameters_and_gflops_match_the_paper():
    config = load_config_file(str(ROOT / "configs" / "k400_fe.py"))
    rows = table2_rows(config, task_for_config(config))
    assert [name for name, _ in rows] == list(PAPER)
    for name, cost in rows:
        paper_params, paper_gflops = PAPER[name]
        assert abs(cost.parameters / 1e6 - paper_params) <= 0.1, (name, cost)
        assert abs(cost.gflops - paper_gflops) / paper_gflops <= 0.02, (name, cost)


@pytest.mark.slow
def test_flops_command_prints_k400_fe_counts():
    result = subprocess.run(
        [sys.executable, "-m", "vivit.flops", "--config=configs/k400_fe.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert "parameters: 115.1 M" in result.stdout
    assert "GFLOPs per clip: 284.4" in result.stdout
