"""Run a paper table or figure as a sweep of main.py runs, and report it beside the paper.

    python -m vivit.sweep --sweep=configs/ablations/table_2_variants.py --workdir=DIR \
        [--launcher=local|print|tpu|slurm] [--set=dataset_configs.base_dir=/data/k400 ...]
    python -m vivit.sweep --sweep=configs/ablations/table_2_variants.py:tiny --workdir=DIR
    python -m vivit.sweep report --workdir=DIR
    python -m vivit.sweep cost --sweep=configs/ablations/table_2_variants.py  # before running

See docs/reproducing.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import app, flags
from etils import epath

from vivit import storage
from vivit.sweep import cost as cost_lib
from vivit.sweep import launch, report, spec

_SWEEP = flags.DEFINE_string(
    "sweep", None, "Sweep file, FILE[:ARG]; ARG 'tiny' swaps in synthetic data and a tiny model.")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory of the sweep: sweep.json, one sub-directory per run, report.*")
_LAUNCHER = flags.DEFINE_enum(
    "launcher", "local", ["local", "print", "tpu", "slurm"],
    "local: run the runs here one after another (finished ones are skipped); print: one "
    "main.py line per run; tpu: gcloud ssh commands for TPU slices; slurm: an sbatch array "
    "script.")
_SET = flags.DEFINE_multi_string(
    "set", [], "KEY=VALUE added to every run as --config.KEY=VALUE (data paths, checkpoints).")
_PYTHON = flags.DEFINE_string("python", None, "Python of the printed/launched commands "
                              "(default: python for print, python3 for tpu/slurm).")
_REPO_DIR = flags.DEFINE_string(
    "repo_dir", None, "tpu/slurm: this repository's directory on the machines that run it.")
_TPU = flags.DEFINE_list("tpu", [], "tpu: TPU VM (pod slice) names; runs are dealt out "
                         "round-robin and each slice runs its share one after another.")
_ZONE = flags.DEFINE_string("zone", None, "tpu: the slices' zone.")
_TPU_PROJECT = flags.DEFINE_string("tpu_project", None, "tpu: GCP project (optional).")
_SLURM_NODES = flags.DEFINE_integer("slurm_nodes", 1, "slurm: nodes per run.")
_SLURM_TASKS = flags.DEFINE_integer("slurm_ntasks_per_node", 1,
                                    "slurm: processes per node (1 per host for JAX).")
_SLURM_DIRECTIVES = flags.DEFINE_multi_string(
    "slurm_directive", [], "slurm: extra #SBATCH option, e.g. --gres=gpu:8 or --time=48:00:00.")
_UTILISATION = flags.DEFINE_float(
    "utilisation", 0.4, "cost: fraction of the accelerator's peak FLOP/s a run sustains.")
_PAPER_COMPUTE = flags.DEFINE_bool(
    "paper_compute", True, "report: compute parameters and GFLOPs of the paper-size models.")


def _extra_overrides(items: list[str]) -> dict[str, str]:
    extra = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise spec.SweepError(f"--set={item}: expected KEY=VALUE, e.g. "
                                  "dataset_configs.base_dir=/data/k400.")
        extra[key.removeprefix("config.")] = value
    return extra


def _check_workdir(workdir: epath.Path, description: dict) -> None:
    """Refuses a workdir whose sweep.json describes a different sweep."""
    path = workdir / spec.SWEEP_FILE
    if path.is_file():
        old = json.loads(path.read_text())
        old_runs = {r["name"]: r["overrides"] for r in old.get("runs", [])}
        new_runs = {r["name"]: r["overrides"] for r in description["runs"]}
        if old_runs != new_runs or old.get("sweep") != description["sweep"]:
            raise spec.SweepError(
                f"'{workdir}' already holds another sweep ({old.get('sweep')}); use a new "
                "--workdir.")


def _launcher_text(runs: list[spec.Run], sweep: spec.Sweep, workdir: epath.Path
                   ) -> str | None:
    """The print/tpu/slurm output (checking the launcher's flags first); None for local."""
    if _LAUNCHER.value == "local":
        return None
    if _LAUNCHER.value == "print":
        return launch.print_commands(runs, _PYTHON.value or "python")
    repo_dir = _REPO_DIR.value
    if not repo_dir:
        raise spec.SweepError(f"--launcher={_LAUNCHER.value} needs --repo_dir (this "
                              "repository's path on the machines that run the sweep).")
    python = _PYTHON.value or "python3"
    if _LAUNCHER.value == "tpu":
        return launch.tpu_script(runs, launch.TpuOptions(
            names=_TPU.value, zone=_ZONE.value or "", repo_dir=repo_dir,
            project=_TPU_PROJECT.value, python=python))
    return launch.slurm_script(runs, launch.SlurmOptions(
        repo_dir=repo_dir, job_name=f"vivit-{sweep.key}", log_dir=str(workdir),
        nodes=_SLURM_NODES.value, ntasks_per_node=_SLURM_TASKS.value,
        directives=_SLURM_DIRECTIVES.value, python=python))


def launch_sweep() -> None:
    if not _SWEEP.value:
        raise app.UsageError("--sweep=FILE[:ARG] is required.", exitcode=2)
    sweep, _, arg = spec.load_sweep(_SWEEP.value)
    tiny = spec.is_tiny(arg)
    local = _LAUNCHER.value == "local"
    # A gs:// workdir stays intact (pathlib would turn it into 'gs:/...'); a local one is made
    # absolute for the local launcher (runs start from the repository root).
    workdir = storage.resolve(_WORKDIR.value) if local else epath.Path(_WORKDIR.value)
    runs = spec.expand(sweep, str(workdir), tiny, _extra_overrides(_SET.value))
    description = spec.describe(sweep, runs, _SWEEP.value, tiny)
    _check_workdir(workdir, description)
    text = _launcher_text(runs, sweep, workdir)
    # Every run's config, resolved from its command line: a bad key or value fails here,
    # before anything is launched.
    resolved = [spec.resolve_config(run.base, run.overrides) for run in runs]
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / spec.SWEEP_FILE).write_text(spec.to_json(description))
    if local:
        for run, config in zip(runs, resolved):
            run_dir = storage.resolve(run.workdir)
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "resolved_config.json").write_text(
                config.to_json_best_effort(indent=2, sort_keys=True))
        launch.run_locally(runs, log=lambda line: print(line, file=sys.stderr, flush=True))
        print(f"All {len(runs)} runs finished; report: python -m vivit.sweep report "
              f"--workdir={workdir}", file=sys.stderr)
        return
    if _LAUNCHER.value in ("tpu", "slurm"):
        script = workdir / f"launch_{_LAUNCHER.value}.sh"
        script.write_text(text)
        if not str(workdir).startswith(("gs://", "s3://")):
            Path(script).chmod(0o755)
        print(f"Wrote {script}.", file=sys.stderr)
    sys.stdout.write(text)


def cost_table() -> str:
    """Clips, GFLOPs and TPU-v3 chip-hours of every run of --sweep at the paper's size."""
    if not _SWEEP.value:
        raise app.UsageError("--sweep=FILE[:ARG] is required.", exitcode=2)
    if not 0 < _UTILISATION.value <= 1:
        raise spec.SweepError(f"--utilisation={_UTILISATION.value}: expected a fraction in (0, 1].")
    from vivit.flops import count  # Imports jax: after the arguments are checked.
    from vivit.tasks import task_for_config

    sweep, _, _ = spec.load_sweep(_SWEEP.value)
    lines = [f"{sweep.title}: one run each, at {_UTILISATION.value:.0%} of a TPU-v3 chip's "
             f"{cost_lib.TPU_V3_CHIP_TFLOPS:.0f} TFLOP/s.", "", cost_lib.COST_HEADER]
    total = 0.0
    for run in spec.expand(sweep, "/unused", tiny=False):
        config = spec.resolve_config(sweep.compute_base or sweep.base, run.compute_overrides)
        gflops = count(config, task_for_config(config)).gflops
        cost = cost_lib.run_cost(config, gflops, _UTILISATION.value)
        total += cost.chip_hours
        lines.append(cost_lib.cost_row(run.name, cost))
    lines.append(f"| total | | | | | | {total:,.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    command = argv[1:]
    if command not in ([], ["report"], ["cost"]):
        raise app.UsageError(f"Unexpected arguments {command}: commands are 'report' and "
                             "'cost'.", exitcode=2)
    if command == ["cost"]:
        try:
            sys.stdout.write(cost_table())
        except (spec.SweepError, ValueError) as error:
            sys.exit(f"vivit.sweep: error: {error}")
        return
    if not _WORKDIR.value:
        raise app.UsageError("--workdir is required.", exitcode=2)
    try:
        if command == ["report"]:
            sys.stdout.write(report.write_report(_WORKDIR.value, _PAPER_COMPUTE.value))
        else:
            launch_sweep()
    except (spec.SweepError, OSError) as error:
        sys.exit(f"vivit.sweep: error: {error}")


if __name__ == "__main__":
    app.run(main)
