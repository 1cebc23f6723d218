"""What a sweep is: a base config file and named rows of `--config.KEY=VALUE` overrides.

A sweep file (`configs/ablations/*.py`) defines `get_sweep(arg: str) -> Sweep`. Expanding it gives
one `Run` per row: a workdir name, the overrides, and the plain `main.py` command line that
trains it. Every run's config is resolved from that very command line by main.py's own loader
(`vivit.config.load_config`), so a key that does not exist or a value the command line cannot
carry fails here, before anything is launched.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import json
import re
import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence

import ml_collections


REPO_ROOT = Path(__file__).resolve().parents[2]
# The paper's ablations test on 4 temporal views of one central crop ("4 views", Sec. 4.1);
# the K400 configs test on 4x3 views (Table 6's protocol), so K400 ablation sweeps set this.
ABLATION_VIEWS = {"dataset_configs.do_three_spatial_crops": False}
SWEEP_FILE = "sweep.json"


class SweepError(ValueError):
    """Bad sweep input (file, argument, override): the message is the one line users see."""


@dataclasses.dataclass(frozen=True)
class Row:
    """One run of a sweep and the paper's numbers for it.

    `paper` holds the published figures by column: 'accuracy', 'gflops', 'params_m'. `tiny`
    replaces some of `overrides` in tiny mode (e.g. a 320 crop becomes 40). `series` and `x`
    place the row on a figure's plot.
    """

    name: str
    label: str
    overrides: Mapping[str, Any]
    paper: Mapping[str, float] = dataclasses.field(default_factory=dict)
    tiny: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    series: str | None = None
    x: float | None = None


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A paper table or figure as runs: `base` config file + `common` + each row's overrides.

    `compute_base`/`compute_common` build the paper-size model whose parameters and GFLOPs the
    report computes without training (default: `base`/`common`). `paper_protocol` says how the
    paper's accuracies were measured (views, split), for the report's paper cells;
    `extra_paper_columns` are paper-only columns ({heading: {row label: text}}). `figure_x` names
    the x axis of a figure sweep (the report then plots). `tiny_common` is added in tiny mode.
    """

    key: str
    title: str
    base: str
    rows: Sequence[Row]
    common: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    row_header: str = "Model"
    metric: str = "K400 Top-1"
    paper_protocol: str = "views and video count not stated"
    extra_paper_columns: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    compute_base: str | None = None
    compute_common: Mapping[str, Any] | None = None
    figure_x: str | None = None
    tiny_common: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    notes: Sequence[str] = ()


def size_overrides(name: str) -> dict[str, Any]:
    """Dotted overrides for a named size ('L/16x2'), as `vivit.models.apply_size` sets them."""
    from vivit.models.presets import TEMPORAL_LAYERS, parse_size

    hidden_size, size, patch_size = parse_size(name)
    overrides: dict[str, Any] = {"model.hidden_size": hidden_size, "model.patches.size": patch_size}
    for section in ("model", "model.spatial_transformer", "model.temporal_transformer"):
        layers = TEMPORAL_LAYERS if section.endswith("temporal_transformer") else size.num_layers
        overrides.update({f"{section}.num_layers": layers, f"{section}.num_heads": size.num_heads,
                          f"{section}.mlp_dim": size.mlp_dim})
    return overrides


# Tiny mode: synthetic motion clips and a 1-layer, 32-wide model, 30 steps, so every run of a
# sweep trains in seconds on a CPU (CI). A row's own overrides win over these (the row varies
# them); its `tiny` entries then shrink what it varies.
TINY_OVERRIDES: dict[str, Any] = {
    "dataset_name": "synthetic_motion",
    "dataset_configs.num_classes": 10,
    "dataset_configs.synthetic.num_train_examples": 128,
    "dataset_configs.synthetic.num_validation_examples": 16,
    "dataset_configs.synthetic.num_test_examples": 16,
    "dataset_configs.synthetic.video_frames": 16,
    "dataset_configs.synthetic.resolution": 32,
    "dataset_configs.examples_per_subset.train": None,
    "dataset_configs.examples_per_subset.validation": None,
    "dataset_configs.examples_per_subset.test": None,
    "dataset_configs.num_frames": 8,
    "dataset_configs.stride": 2,
    "dataset_configs.min_resize": 32,
    "dataset_configs.crop_size": 32,
    "dataset_configs.random_flip": False,  # Left/right is the synthetic label.
    "dataset_configs.num_test_clips": 2,
    "dataset_configs.num_parallel_reads": 2,
    "model.hidden_size": 32,
    "model.num_heads": 2,
    "model.mlp_dim": 64,
    "model.num_layers": 1,
    "model.spatial_transformer.num_heads": 2,
    "model.spatial_transformer.mlp_dim": 64,
    "model.spatial_transformer.num_layers": 1,
    "model.temporal_transformer.num_heads": 2,
    "model.temporal_transformer.mlp_dim": 64,
    "model.temporal_transformer.num_layers": 1,
    "model.patches.size": (8, 8, 2),
    "init_from.checkpoint_path": None,
    "batch_size": 8,
    "num_training_epochs": None,
    "num_training_steps": 30,
    "optimizer": "adamw",
    "lr_configs.base_learning_rate": 0.003,
    "lr_configs.warmup_steps": 5,
    "lr_configs.steps_per_cycle": None,
    "log_summary_steps": 10,
    "log_eval_steps": 30,
    "checkpoint_steps": 30,
    "max_checkpoints_to_keep": 1,
    "count_flops": False,
}


@dataclasses.dataclass(frozen=True)
class Run:
    """One expanded run: where it writes, what it sets, and the command that trains it."""

    name: str
    label: str
    workdir: str
    base: str
    overrides: dict[str, str]  # dotted key -> value as written on the command line
    compute_overrides: dict[str, str]  # the paper-size model of this row
    paper: dict[str, float]
    series: str | None
    x: float | None

    def main_args(self) -> list[str]:
        """main.py's arguments (after `python main.py`)."""
        return [f"--config={self.base}", f"--workdir={self.workdir}"] + [
            f"--config.{key}={value}" for key, value in self.overrides.items()]

    def command(self, python: str = "python") -> str:
        return shlex.join([python, "main.py", *self.main_args()])


def format_value(value: Any) -> str:
    """A Python value as `--config.KEY=` text that main.py parses back to the same value."""
    if isinstance(value, (tuple, list)):
        inner = ",".join(format_value(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def is_tiny(arg: str) -> bool:
    """Whether a sweep argument asks for tiny mode ('tiny', 'tiny,KEY=VALUE', ...)."""
    return "tiny" in (part.strip() for part in arg.split(","))


def parse_sweep_arg(arg: str, options: Sequence[str] = ()) -> tuple[bool, dict[str, str]]:
    """'tiny,k400_checkpoint=/x' -> (True, {'k400_checkpoint': '/x'}); KEY must be one of
    `options` (the KEY=VALUE arguments the sweep file takes)."""
    tiny, values = False, {}
    for part in filter(None, (p.strip() for p in arg.split(","))):
        if part == "tiny":
            tiny = True
        elif "=" in part and part.split("=", 1)[0] in options:
            key, value = part.split("=", 1)
            values[key] = value
        else:
            expected = " or ".join(["'tiny'"] + [f"{key}=VALUE" for key in options])
            raise SweepError(f"Sweep argument {part!r}: expected {expected}.")
    return tiny, values


def load_sweep(spec: str) -> tuple[Sweep, str, str]:
    """`FILE[:ARG]` -> (the file's `get_sweep(ARG)`, the file path, ARG)."""
    path, _, arg = spec.partition(":")
    file = Path(path)
    if not file.is_file() and not file.is_absolute() and (REPO_ROOT / path).is_file():
        file = REPO_ROOT / path
    if not file.is_file():
        raise SweepError(f"Sweep file '{path}' does not exist.")
    module_spec = importlib.util.spec_from_file_location(f"vivit_sweep_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_sweep"):
        raise SweepError(f"Sweep file '{path}' defines no get_sweep(arg).")
    sweep = module.get_sweep(arg)
    if not isinstance(sweep, Sweep):
        raise SweepError(f"get_sweep() of '{path}' returned {type(sweep).__name__}, not a Sweep.")
    return sweep, str(file), arg


def _merged(*layers: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def run_overrides(sweep: Sweep, row: Row, tiny: bool,
                  extra: Mapping[str, str] = {}) -> dict[str, Any]:
    """The overrides of one run: common, the row's, then (tiny) TINY_OVERRIDES for keys the
    row does not vary, the sweep's and the row's tiny values, then the user's extra ones."""
    layers: list[Mapping[str, Any]] = [sweep.common, row.overrides]
    if tiny:
        layers += [{k: v for k, v in TINY_OVERRIDES.items() if k not in row.overrides},
                   sweep.tiny_common, row.tiny]
    layers.append(extra)
    return _merged(*layers)


def _check_name(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.,=+x-]+", name):
        raise SweepError(f"Run name {name!r}: use letters, digits and _ . , = + x - only "
                         "(it is a directory name).")


def expand(sweep: Sweep, workdir: str, tiny: bool, extra: Mapping[str, str] = {}) -> list[Run]:
    """One Run per row, workdir `WORKDIR/<row name>`; names must be unique."""
    runs, seen = [], set()
    for row in sweep.rows:
        _check_name(row.name)
        if row.name in seen:
            raise SweepError(f"Two rows of sweep '{sweep.key}' are named {row.name!r}.")
        seen.add(row.name)
        overrides = run_overrides(sweep, row, tiny, extra)
        compute_common = sweep.common if sweep.compute_common is None else sweep.compute_common
        compute = _merged(compute_common, row.overrides)
        runs.append(Run(
            name=row.name, label=row.label, workdir=f"{workdir.rstrip('/')}/{row.name}",
            base=sweep.base, overrides={k: format_value(v) for k, v in overrides.items()},
            compute_overrides={k: format_value(v) for k, v in compute.items()},
            paper=dict(row.paper), series=row.series, x=row.x))
    return runs


def _same(parsed: Any, intended: str) -> bool:
    """Whether the parsed value is what the text meant (a Python literal, else the string)."""
    try:
        meant = ast.literal_eval(intended)
    except (ValueError, SyntaxError):
        return parsed == intended
    if isinstance(parsed, (tuple, list)) and isinstance(meant, (tuple, list)):
        return tuple(parsed) == tuple(meant)
    return parsed == meant and (parsed is None) == (meant is None)


def resolve_config(base: str, overrides: Mapping[str, str]) -> ml_collections.ConfigDict:
    """The complete config main.py builds from `--config=BASE --config.KEY=VALUE ...`.

    Loads it with `vivit.config.load_config`, main.py's own loader, then checks that each value
    came back as written (a value the key's type turns into something else is refused).
    """
    path = base.partition(":")[0]
    if not Path(path).is_file() and (REPO_ROOT / path).is_file():
        base = str(REPO_ROOT / base)
    elif not Path(path).is_file():
        raise SweepError(f"Config file '{path}' does not exist.")
    # Imports the model and checkpoint code: only when needed.
    from vivit.config import ConfigError, load_config

    try:
        config = load_config(base, [f"{key}={value}" for key, value in overrides.items()])
    except (ConfigError, OSError) as error:
        raise SweepError(f"Config '{path}' with the sweep's overrides: {error}") from error
    for key, intended in overrides.items():
        parsed: Any = config
        for part in key.split("."):
            parsed = parsed[part]
        if not _same(parsed, intended):
            raise SweepError(
                f"Override {key}={intended} reads back as {parsed!r} from the command line "
                f"(the key's type in '{path}' does not take that value).")
    return config


def describe(sweep: Sweep, runs: Sequence[Run], sweep_spec: str, tiny: bool) -> dict[str, Any]:
    """What `report` needs to lay out the table, saved as WORKDIR/sweep.json."""
    return {
        "sweep": sweep_spec, "key": sweep.key, "title": sweep.title, "tiny": tiny,
        "row_header": sweep.row_header, "metric": sweep.metric,
        "paper_protocol": sweep.paper_protocol,
        "extra_paper_columns": {k: dict(v) for k, v in sweep.extra_paper_columns.items()},
        "compute_base": sweep.compute_base or sweep.base, "figure_x": sweep.figure_x,
        "notes": list(sweep.notes),
        "runs": [dataclasses.asdict(run) for run in runs],
    }


def runs_from_description(description: Mapping[str, Any]) -> list[Run]:
    return [Run(**run) for run in description["runs"]]


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)
