"""The report of a sweep: each run's final accuracy beside the paper's, laid out like the paper's
table, with parameters and GFLOPs computed (no training) at the paper's size and at the run's.

Written to WORKDIR/report.md, WORKDIR/report.csv and, for figure sweeps, WORKDIR/report.png.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Any, Mapping, Sequence

import ml_collections
from etils import epath

from vivit.sweep import results
from vivit.sweep.spec import (SWEEP_FILE, Run, SweepError, resolve_config,
                              runs_from_description)


@dataclasses.dataclass
class RowReport:
    run: Run
    metrics: dict[str, float]
    views: str  # e.g. '4x3': temporal clips x spatial crops of the run's test
    paper_size: Any = None  # vivit.flops.ModelCost of the paper-size model
    run_size: Any = None  # ... of the model the run trained

    @property
    def accuracy(self) -> float | None:
        key = results.accuracy_key(self.metrics)
        return None if key is None else 100.0 * self.metrics[key]

    @property
    def single_view_accuracy(self) -> float | None:
        key = results.accuracy_key(self.metrics)
        value = None if key is None else self.metrics.get(f"single_view_{key}")
        return None if value is None else 100.0 * value

    @property
    def num_videos(self) -> int | None:
        value = self.metrics.get("num_videos")
        return None if value is None else int(value)


def views_of(config: ml_collections.ConfigDict) -> str:
    data = config.dataset_configs
    return f"{int(data.num_test_clips)}x{3 if data.do_three_spatial_crops else 1}"


def load_description(workdir: str) -> dict[str, Any]:
    path = epath.Path(workdir) / SWEEP_FILE
    if not path.is_file():
        raise SweepError(f"No {SWEEP_FILE} in '{workdir}': launch a sweep there first "
                         "(python -m vivit.sweep --sweep=FILE --workdir=DIR).")
    return json.loads(path.read_text())


def collect(description: Mapping[str, Any], paper_compute: bool = True) -> list[RowReport]:
    """Metrics of every run, and the compute of each row's paper-size and run-size model."""
    from vivit.flops import count
    from vivit.tasks import task_for_config

    costs: dict[str, Any] = {}

    def cost_of(config: ml_collections.ConfigDict) -> Any:
        key = config.to_json_best_effort(sort_keys=True)
        if key not in costs:
            costs[key] = count(config, task_for_config(config))
        return costs[key]

    rows = []
    for run in runs_from_description(description):
        run_config = resolve_config(run.base, run.overrides)
        row = RowReport(run, results.metrics_of(run.workdir), views_of(run_config))
        row.run_size = cost_of(run_config)
        if paper_compute:
            row.paper_size = cost_of(
                resolve_config(description["compute_base"], run.compute_overrides))
        rows.append(row)
    return rows


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _ours_cell(row: RowReport) -> str:
    if row.accuracy is None:
        return "not run"
    return f"{row.accuracy:.1f} (multi-view {row.views}, {row.num_videos} videos)"


def _single_view_cell(row: RowReport) -> str:
    if row.single_view_accuracy is None:
        return "–"
    return f"{row.single_view_accuracy:.1f} (single-view, each view of {row.num_videos} videos)"


def _paper_cell(value: float | None, protocol: str) -> str:
    return "–" if value is None else f"{value:.1f} ({protocol})"


def table_rows(description: Mapping[str, Any], rows: Sequence[RowReport]) -> tuple[
        list[str], list[list[str]]]:
    """Header and cells of the Markdown table."""
    metric, protocol = description["metric"], description["paper_protocol"]
    extra = description.get("extra_paper_columns", {})
    header = [description.get("row_header", "Model"), f"{metric} (ours)", f"{metric} (paper)",
              "Single-view (ours)", "GFLOPs (ours, paper size)", "GFLOPs (paper)",
              "Params M (ours, paper size)", "Params M (paper)", "GFLOPs / Params M (run size)"]
    header += list(extra)
    cells = []
    for row in rows:
        paper, label = row.run.paper, row.run.label
        line = [label, _ours_cell(row), _paper_cell(paper.get("accuracy"), protocol),
                _single_view_cell(row),
                _number(row.paper_size.gflops if row.paper_size else None),
                _number(paper.get("gflops")),
                _number(row.paper_size.parameters / 1e6 if row.paper_size else None),
                _number(paper.get("params_m")),
                (f"{row.run_size.gflops:.4g} / {row.run_size.parameters / 1e6:.3g}"
                 if row.run_size else "–")]
        line += [values.get(label, "–") for values in extra.values()]
        cells.append(line)
    return header, cells


def markdown(description: Mapping[str, Any], rows: Sequence[RowReport]) -> str:
    header, cells = table_rows(description, rows)
    lines = [f"# {description['title']}", ""]
    if description.get("tiny"):
        lines += ["Tiny mode: synthetic clips and a tiny model; the accuracies say nothing "
                  "about the paper, the paper-size compute columns do.", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(line) + " |" for line in cells]
    lines += ["", f"Paper accuracies: {description['paper_protocol']}. GFLOPs count one "
              "multiply-add as one FLOP, per clip (one view), from XLA's cost analysis."]
    lines += [f"- {note}" for note in description.get("notes", [])]
    return "\n".join(lines) + "\n"


CSV_FIELDS = ["sweep", "name", "label", "accuracy", "single_view_accuracy", "views",
              "num_videos", "paper_accuracy", "paper_protocol", "gflops_paper_size",
              "paper_gflops", "params_m_paper_size", "paper_params_m", "gflops_run_size",
              "params_m_run_size", "workdir"]


def csv_text(description: Mapping[str, Any], rows: Sequence[RowReport]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({
            "sweep": description["key"], "name": row.run.name, "label": row.run.label,
            "accuracy": row.accuracy, "single_view_accuracy": row.single_view_accuracy,
            "views": row.views, "num_videos": row.num_videos,
            "paper_accuracy": row.run.paper.get("accuracy"),
            "paper_protocol": description["paper_protocol"],
            "gflops_paper_size": row.paper_size.gflops if row.paper_size else None,
            "paper_gflops": row.run.paper.get("gflops"),
            "params_m_paper_size": row.paper_size.parameters / 1e6 if row.paper_size else None,
            "paper_params_m": row.run.paper.get("params_m"),
            "gflops_run_size": row.run_size.gflops if row.run_size else None,
            "params_m_run_size": row.run_size.parameters / 1e6 if row.run_size else None,
            "workdir": row.run.workdir,
        })
    return out.getvalue()


def plot(description: Mapping[str, Any], rows: Sequence[RowReport], path: epath.Path
         ) -> None:
    """(a) our accuracy and (b) GFLOPs per clip against the figure's x axis, a line per series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    series: dict[str, list[RowReport]] = {}
    for row in rows:
        series.setdefault(row.run.series or "runs", []).append(row)
    for name, members in series.items():
        members = sorted(members, key=lambda r: r.run.x)
        done = [r for r in members if r.accuracy is not None]
        left.plot([r.run.x for r in done], [r.accuracy for r in done], "o-", label=name)
        cost = [r for r in members if (r.paper_size or r.run_size) is not None]
        right.plot([r.run.x for r in cost],
                   [(r.paper_size or r.run_size).gflops for r in cost], "o-", label=name)
    size = "paper size" if any(r.paper_size for r in rows) else "run size"
    left.set(xlabel=description["figure_x"], ylabel=f"{description['metric']} (ours, %)",
             title="(a) accuracy")
    right.set(xlabel=description["figure_x"], ylabel=f"GFLOPs per clip ({size})",
              title="(b) computation")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(description["title"], fontsize=10)
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    path.write_bytes(image.getvalue())
    plt.close(figure)


def write_report(workdir: str, paper_compute: bool = True) -> str:
    """Writes report.md, report.csv (and report.png for figures) into `workdir`; returns the
    Markdown."""
    description = load_description(workdir)
    rows = collect(description, paper_compute)
    text = markdown(description, rows)
    directory = epath.Path(workdir)
    (directory / "report.md").write_text(text)
    (directory / "report.csv").write_text(csv_text(description, rows))
    if description.get("figure_x"):
        plot(description, rows, directory / "report.png")
    return text
