"""Final test metrics from TensorBoard events, the finished marker that makes reruns skip, and
the report's table, CSV and plot."""

import csv
import io
import json

import pytest
from clu import metric_writers

from tests.sweep.sweep_helpers import sweep_arg
from vivit.workdir import RESULT_FILE
from vivit.sweep import launch, report, results, spec


def _write_events(workdir, steps):
    writer = metric_writers.create_default_writer(str(workdir))
    for step, values in steps.items():
        writer.write_scalars(step, values)
    writer.close()


def test_final_test_metrics_are_the_last_test_in_the_events(tmp_path):
    _write_events(tmp_path, {
        10: {"test/accuracy": 0.25, "test/num_videos": 16.0, "train/loss": 2.0},
        20: {"test/accuracy": 0.5, "test/single_view_accuracy": 0.375,
             "test/num_videos": 16.0, "test/views_per_video": 2.0},
        25: {"train/loss": 1.0},
    })
    metrics = results.final_test_metrics(tmp_path)
    assert metrics == {"accuracy": 0.5, "single_view_accuracy": 0.375, "num_videos": 16.0,
                       "views_per_video": 2.0, "step": 20.0}


def test_multihead_runs_report_the_joint_action_accuracy():
    metrics = {"noun_accuracy": 0.5, "verb_accuracy": 0.6, "noun-verb_accuracy": 0.3,
               "single_view_noun-verb_accuracy": 0.2}
    assert results.accuracy_key(metrics) == "noun-verb_accuracy"


def _table2_runs(workdir):
    sweep, _, arg = spec.load_sweep(sweep_arg("table_2_variants.py", tiny=True))
    return sweep, spec.expand(sweep, str(workdir), tiny=True)


def test_finished_runs_are_skipped_and_changed_ones_refused(tmp_path):
    _, runs = _table2_runs(tmp_path)
    for run in runs:
        (tmp_path / run.name).mkdir()
        results.write_result(tmp_path / run.name, run.command(), {"accuracy": 0.5}, 1.0)
    lines = []
    launch.run_locally(runs, log=lines.append)  # Would train for minutes if not skipped.
    assert lines == [f"[{i}/5] {run.name}: finished before, skipped."
                     for i, run in enumerate(runs, start=1)]
    changed = [spec.Run(**{**run.__dict__, "overrides": {**run.overrides, "batch_size": "4"}})
               for run in runs]
    with pytest.raises(spec.SweepError, match="finished with another command"):
        launch.run_locally(changed, log=lines.append)


def test_a_half_written_marker_does_not_count_as_finished(tmp_path):
    (tmp_path / RESULT_FILE).write_text('{"command": "python main.py')
    assert results.read_result(tmp_path) is None


def _fake_sweep(tmp_path, file, accuracies):
    sweep, _, arg = spec.load_sweep(sweep_arg(file, tiny=True))
    runs = spec.expand(sweep, str(tmp_path), tiny=True)
    (tmp_path / spec.SWEEP_FILE).write_text(
        spec.to_json(spec.describe(sweep, runs, sweep_arg(file, tiny=True), True)))
    for run, accuracy in zip(runs, accuracies):
        if accuracy is None:
            continue
        (tmp_path / run.name).mkdir()
        results.write_result(tmp_path / run.name, run.command(), {
            "accuracy": accuracy, "single_view_accuracy": accuracy / 2, "num_videos": 16.0,
            "views_per_video": 2.0}, 1.0)
    return runs


@pytest.mark.slow  # compiles the five tiny models for the run-size columns
def test_report_lays_out_the_paper_table_with_views_and_video_counts(tmp_path):
    runs = _fake_sweep(tmp_path, "table_2_variants.py", [0.5, 0.625, 0.25, 0.125, None])
    text = report.write_report(str(tmp_path), paper_compute=False)
    assert text == (tmp_path / "report.md").read_text()
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| Model |"))
    assert "K400 Top-1 (ours)" in header and "K400 Top-1 (paper)" in header
    fe = next(line for line in lines if line.startswith("| Model 2: Fact. encoder |"))
    cells = [c.strip() for c in fe.strip("|").split("|")]
    assert cells[1] == "62.5 (multi-view 2x1, 16 videos)"
    assert cells[2] == "78.8 (multi-view 4x1*, videos not stated)"
    assert cells[3] == "31.2 (single-view, each view of 16 videos)"
    assert cells[5] == "284.4" and cells[7] == "115.1"  # the paper's compute
    assert cells[9] == "43.7"  # the paper's EK column
    baseline = next(line for line in lines if line.startswith("| Model 2: Ave. pool baseline |"))
    assert "| not run |" in baseline

    rows = list(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert [r["name"] for r in rows] == [r.name for r in runs]
    assert float(rows[1]["accuracy"]) == 62.5 and rows[1]["views"] == "2x1"
    assert rows[1]["num_videos"] == "16" and float(rows[1]["paper_accuracy"]) == 78.8
    # The run-size model (tiny: 32 wide, 1 layer) is counted, a few MFLOPs.
    assert 0 < float(rows[1]["gflops_run_size"]) < 0.1
    assert 0 < float(rows[1]["params_m_run_size"]) < 0.1
    assert rows[4]["accuracy"] == ""
    assert not (tmp_path / "report.png").exists()  # A table, not a figure.


@pytest.mark.slow
def test_figure_sweeps_get_a_plot(tmp_path):
    _fake_sweep(tmp_path, "figure_9_frames.py", [0.2, 0.3, 0.4, 0.45, 0.5])
    report.write_report(str(tmp_path), paper_compute=False)
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    description = json.loads((tmp_path / spec.SWEEP_FILE).read_text())
    assert description["figure_x"] == "input frames"


def test_report_without_a_sweep_is_one_clear_error(tmp_path):
    with pytest.raises(spec.SweepError, match="No sweep.json in"):
        report.write_report(str(tmp_path))


def test_runs_launched_elsewhere_are_read_from_their_events(tmp_path):
    _write_events(tmp_path, {30: {"test/accuracy": 0.75, "test/num_videos": 8.0}})
    assert results.metrics_of(tmp_path) == {"accuracy": 0.75, "num_videos": 8.0, "step": 30.0}
    assert results.metrics_of(tmp_path / "never_ran") == {}
