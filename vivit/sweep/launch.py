"""Launching a sweep's runs: here one after another (`local`), or as text that launches them
elsewhere (`print`: main.py lines; `tpu`: gcloud ssh commands; `slurm`: an array job script).

Every launcher runs the same `main.py --config=BASE --config.KEY=VALUE ...` line per run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Callable, Sequence

from vivit import storage
from vivit.sweep import results
from vivit.sweep.spec import REPO_ROOT, Run, SweepError
from vivit.workdir import LOG_FILE


def print_commands(runs: Sequence[Run], python: str = "python") -> str:
    """One main.py command line per run (run from the repository root)."""
    return "".join(f"{run.command(python)}\n" for run in runs)


@dataclasses.dataclass(frozen=True)
class TpuOptions:
    names: Sequence[str]  # TPU VM names; runs are dealt out round-robin
    zone: str
    repo_dir: str  # the repository on every worker of the slices
    project: str | None = None
    python: str = "python3"


def tpu_script(runs: Sequence[Run], options: TpuOptions) -> str:
    """A bash script: each slice runs its share of the runs one after another, slices in
    parallel; every run goes to all workers of its slice (`--worker=all`), where main.py
    initializes jax.distributed from the TPU environment."""
    if not options.names:
        raise SweepError("--launcher=tpu needs --tpu=NAME[,NAME...] (TPU VM names).")
    if not options.zone:
        raise SweepError("--launcher=tpu needs --zone (e.g. us-central2-b).")
    lines = ["#!/bin/bash",
             f"# {len(runs)} runs on {len(options.names)} TPU slice(s), dealt out round-robin;",
             "# the runs of one slice go one after another, slices in parallel.",
             "# Workdirs must be reachable from every worker (e.g. gs://).",
             "set -u"]
    for slice_index, name in enumerate(options.names):
        share = runs[slice_index::len(options.names)]
        if not share:
            continue
        lines.append("(")
        for run in share:
            remote = f"cd {shlex.quote(options.repo_dir)} && {run.command(options.python)}"
            gcloud = ["gcloud", "compute", "tpus", "tpu-vm", "ssh", name,
                      f"--zone={options.zone}"]
            if options.project:
                gcloud.append(f"--project={options.project}")
            gcloud += ["--worker=all", f"--command={remote}"]
            lines.append(f"  # {run.name}")
            lines.append(f"  {shlex.join(gcloud)}")
        lines.append(") &")
    lines.append("wait")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class SlurmOptions:
    repo_dir: str
    job_name: str
    log_dir: str
    nodes: int = 1
    ntasks_per_node: int = 1
    directives: Sequence[str] = ()  # extra '#SBATCH' options, e.g. '--gres=gpu:8'
    python: str = "python3"


def slurm_script(runs: Sequence[Run], options: SlurmOptions) -> str:
    """An sbatch array script: task i runs run i with `srun` (one process per task; main.py
    initializes jax.distributed from SLURM's environment when the job has several tasks)."""
    if options.nodes < 1 or options.ntasks_per_node < 1:
        raise SweepError("--slurm_nodes and --slurm_ntasks_per_node must be at least 1.")
    multi_process = options.nodes * options.ntasks_per_node > 1
    lines = ["#!/bin/bash",
             f"#SBATCH --job-name={options.job_name}",
             f"#SBATCH --array=0-{len(runs) - 1}",
             f"#SBATCH --nodes={options.nodes}",
             f"#SBATCH --ntasks-per-node={options.ntasks_per_node}",
             f"#SBATCH --output={options.log_dir.rstrip('/')}/slurm-%A_%a.out"]
    lines += [f"#SBATCH {directive}" for directive in options.directives]
    lines += ["set -euo pipefail", f"cd {shlex.quote(options.repo_dir)}",
              'case "$SLURM_ARRAY_TASK_ID" in']
    for index, run in enumerate(runs):
        args = [options.python, "main.py", *run.main_args()]
        if multi_process:
            args.append("--distributed=on")
        lines.append(f"  {index})  # {run.name}")
        lines.append(f"    srun {shlex.join(args)} ;;")
    lines += ['  *) echo "no run for task $SLURM_ARRAY_TASK_ID" >&2; exit 1 ;;', "esac"]
    return "\n".join(lines) + "\n"


def run_locally(runs: Sequence[Run], log: Callable[[str], None] = print,
                env: dict[str, str] | None = None) -> None:
    """Runs each run's main.py command here, one after another, from the repository root.

    A run whose workdir holds a result written for the same command is skipped; after a run
    exits 0 its final test metrics are read back and saved as its result (the finished marker).
    Stops at the first failing run, naming it and its log.
    """
    for index, run in enumerate(runs, start=1):
        workdir = storage.resolve(run.workdir)
        done = results.read_result(workdir)
        if done is not None:
            if done.get("command") != run.command():
                raise SweepError(
                    f"Run {run.name} in {workdir} finished with another command; use a new "
                    "--workdir (or delete that run's directory) to run this sweep.")
            log(f"[{index}/{len(runs)}] {run.name}: finished before, skipped.")
            continue
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = workdir / LOG_FILE
        log(f"[{index}/{len(runs)}] {run.name}: {run.command()}")
        start = time.monotonic()
        # The log is written locally (beside a local workdir, else in a temporary file that is
        # uploaded after the run).
        local_log = str(log_path) if not storage.is_url(run.workdir) else tempfile.mkstemp(
            prefix="vivit-sweep-", suffix=".log")[1]
        try:
            with open(local_log, "a") as log_file:
                code = subprocess.call([sys.executable, "main.py", *run.main_args()],
                                       cwd=REPO_ROOT, stdout=log_file, stderr=subprocess.STDOUT,
                                       env=dict(os.environ) if env is None else env)
        finally:
            if storage.is_url(run.workdir):
                storage.upload(local_log, log_path)
                os.remove(local_log)
        if code != 0:
            raise SweepError(f"Run {run.name} failed (exit {code}); see {log_path}.")
        metrics = results.final_test_metrics(workdir)
        results.write_result(workdir, run.command(), metrics, time.monotonic() - start)
        log(f"[{index}/{len(runs)}] {run.name}: done in {time.monotonic() - start:.0f} s; "
            f"{json.dumps(metrics, sort_keys=True)}")
