"""Done-when of the sweep work: the Table 2 sweep in tiny mode trains its five runs through
`python -m vivit.sweep --launcher=local`, and `report` lists all five rows with accuracy,
parameters and GFLOPs, the paper-size compute columns matching the paper's Table 2."""

import csv
import io
import json

import pytest

from tests.sweep.sweep_helpers import run_sweep_cli, sweep_arg

pytestmark = pytest.mark.slow

# label -> (paper accuracy, paper GFLOPs, paper params in millions): the paper's Table 2.
PAPER = {
    "Model 1: Spatio-temporal": (80.0, 455.2, 88.9),
    "Model 2: Fact. encoder": (78.8, 284.4, 115.1),
    "Model 3: Fact. self-attention": (77.4, 372.3, 117.3),
    "Model 4: Fact. dot product": (76.3, 277.1, 88.9),
    "Model 2: Ave. pool baseline": (75.8, 283.9, 86.7),
}


def test_table2_tiny_sweep_trains_and_reports_five_rows(tmp_path):
    launched = run_sweep_cli(f"--sweep={sweep_arg('table_2_variants.py', tiny=True)}",
                             f"--workdir={tmp_path}", "--launcher=local", timeout=900)
    assert launched.returncode == 0, launched.stderr[-3000:]
    for name in ("model=spacetime", "model=factorized_encoder,baseline=avg_pool"):
        run_dir = tmp_path / name
        assert "Multi-view test at step 30" in (run_dir / "main.log").read_text()
        result = json.loads((run_dir / "result.json").read_text())
        assert result["metrics"]["num_videos"] == 16 and result["metrics"]["views_per_video"] == 2
        # The trainer's config and the sweep's resolved one agree.
        trained = json.loads((run_dir / "config.json").read_text())
        resolved = json.loads((run_dir / "resolved_config.json").read_text())
        assert trained["model"] == resolved["model"]

    reported = run_sweep_cli("report", f"--workdir={tmp_path}", timeout=600)
    assert reported.returncode == 0, reported.stderr[-3000:]
    assert reported.stdout == (tmp_path / "report.md").read_text()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert [row["label"] for row in rows] == list(PAPER)
    for row in rows:
        accuracy, gflops, params = PAPER[row["label"]]
        assert 0.0 <= float(row["accuracy"]) <= 100.0
        assert row["views"] == "2x1" and row["num_videos"] == "16"
        assert float(row["paper_accuracy"]) == accuracy
        # Paper size, computed without training: within the paper's printed precision.
        assert abs(float(row["gflops_paper_size"]) - gflops) <= 0.1, row
        assert abs(float(row["params_m_paper_size"]) - params) <= 0.1, row
        assert float(row["gflops_run_size"]) > 0 and float(row["params_m_run_size"]) > 0
        assert f"| {row['label']} | {float(row['accuracy']):.1f} (multi-view 2x1, 16 videos) |" \
            in reported.stdout
