"""docs/reproducing.md keeps its promises: its cost tables are what the formula and the `cost`
command give, and its commands name the sweeps and the paper's numbers they hold."""

import re

import pytest

from tests.sweep.sweep_helpers import REPO_ROOT, SWEEP_ROWS, run_sweep_cli
from vivit.sweep import cost, spec

DOC = (REPO_ROOT / "docs" / "reproducing.md").read_text()


def _table_after(marker: str) -> list[list[str]]:
    """Cells of the first Markdown table after `marker` (header and rule dropped)."""
    lines = DOC[DOC.index(marker):].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_table6_costs_follow_the_formula():
    rows = _table_after("The Table 6 costs")
    assert len(rows) == 7
    for name, train, validation, test, gflops, exaflops, hours in rows:
        run = cost.RunCost(int(_number(train)), int(_number(validation)), int(_number(test)),
                           _number(gflops))
        assert f"{run.exaflops:.1f}" == exaflops, name
        assert f"{run.chip_hours:,.0f}" == hours, name


def test_cost_of_k400_split_sizes():
    # 30 epochs of 214,834 // 64 steps of 64 clips; 30 validations of 17,637; the ablations'
    # 4 views of 34,579 test videos, or the K400 config's own 4x3 views.
    ablation = {k: spec.format_value(v) for k, v in spec.ABLATION_VIEWS.items()}
    run = cost.run_cost(spec.resolve_config("configs/k400_fe.py", ablation), 284.4)
    assert (run.train_clips, run.validation_clips, run.test_clips) == (
        30 * (214834 // 64) * 64, 30 * 17637, 4 * 34579)
    run = cost.run_cost(spec.resolve_config("configs/k400_fe.py", {}), 284.4)
    assert run.test_clips == 12 * 34579


def test_every_result_row_names_a_sweep_and_its_paper_numbers():
    rows = _table_after("## Every result")
    sweeps = [row for row in rows if "vivit.sweep" in row[1]]
    assert len(sweeps) == len(SWEEP_ROWS)
    for result, command, paper, runs, _ in sweeps:
        spec_arg = re.search(r"--sweep=(\S+)", command).group(1)
        file = spec_arg.split(":")[0].split("/")[-1]
        assert int(runs) == SWEEP_ROWS[file], result
        if file == "table_4_regularisation.py":
            spec_arg = spec_arg.split(":")[0] + ":k400_checkpoint=/c"
        sweep, _, _ = spec.load_sweep(spec_arg)
        numbers = [row.paper.get("accuracy") for row in sweep.rows]
        if all(n is not None for n in numbers):
            assert paper == " / ".join(f"{n:.1f}" for n in numbers), result


@pytest.mark.slow
def test_table2_cost_table_is_what_the_cost_command_prints():
    result = run_sweep_cli("cost", "--sweep=configs/ablations/table_2_variants.py")
    assert result.returncode == 0, result.stderr[-2000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    assert len(table) == 8
    assert "\n".join(table) in DOC


def test_the_docs_example_sweep_file_works(tmp_path):
    example = re.search(r"```python\n(.*?)```", DOC, re.S).group(1)
    (tmp_path / "my_sweep.py").write_text(example)
    sweep, _, _ = spec.load_sweep(str(tmp_path / "my_sweep.py"))
    runs = spec.expand(sweep, "/w", tiny=False)
    assert [run.name for run in runs] == ["lr=0.05", "lr=0.1"]
    config = spec.resolve_config(runs[0].base, runs[0].overrides)
    assert config.lr_configs.base_learning_rate == 0.05


def test_cost_utilisation_is_a_fraction():
    result = run_sweep_cli("cost", "--sweep=configs/ablations/table_2_variants.py",
                           "--utilisation=1.5")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "vivit.sweep: error: --utilisation=1.5: expected a fraction in (0, 1].")


def test_cost_at_full_utilisation_takes_less_time():
    half = cost.RunCost(1000, 0, 0, 100.0, utilisation=0.5)
    full = cost.RunCost(1000, 0, 0, 100.0, utilisation=1.0)
    assert half.chip_hours == pytest.approx(2 * full.chip_hours)
    # 3 x 1000 training clips x 100 GFLOPs x 2 FLOPs per multiply-add at 123 TFLOP/s.
    assert full.chip_hours == pytest.approx(3 * 1000 * 100e9 * 2 / 123e12 / 3600)
