"""What `--launcher=print|tpu|slurm` emits: the same main.py line per run, wrapped for the place
that runs it; and the CLI's one-line errors."""

import shlex

import pytest

from tests.sweep.sweep_helpers import error_lines, run_sweep_cli, sweep_arg
from vivit.sweep import launch, spec


def _table2_runs(workdir="gs://bucket/t2"):
    sweep, _, _ = spec.load_sweep(sweep_arg("table_2_variants.py"))
    return spec.expand(sweep, workdir, tiny=False)


def test_print_gives_one_main_line_per_run():
    runs = _table2_runs()
    lines = launch.print_commands(runs).splitlines()
    assert len(lines) == 5
    for line, run in zip(lines, runs):
        words = shlex.split(line)
        assert words[:3] == ["python", "main.py", "--config=configs/k400_fe.py"]
        assert words[3] == f"--workdir=gs://bucket/t2/{run.name}"
        assert words[4:] == [f"--config.{k}={v}" for k, v in run.overrides.items()]


def test_tpu_deals_runs_round_robin_over_slices():
    runs = _table2_runs()
    script = launch.tpu_script(runs, launch.TpuOptions(
        names=["slice-a", "slice-b"], zone="us-central2-b", repo_dir="/home/me/vivit",
        project="proj"))
    gcloud = [shlex.split(line) for line in script.splitlines()
              if line.strip().startswith("gcloud")]
    assert len(gcloud) == 5
    slices = [words[5] for words in gcloud]
    # Each slice's runs are in one ( ... ) & group, so slice-a's three come first.
    assert slices == ["slice-a", "slice-a", "slice-a", "slice-b", "slice-b"]
    first = gcloud[0]
    assert first[:6] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "slice-a"]
    assert "--zone=us-central2-b" in first and "--worker=all" in first
    assert "--project=proj" in first
    remote = next(w for w in first if w.startswith("--command="))[len("--command="):]
    assert remote == f"cd /home/me/vivit && {runs[0].command('python3')}"
    names_in_order = [runs[0].name, runs[2].name, runs[4].name, runs[1].name, runs[3].name]
    assert [shlex.split(w.split("&&", 1)[1])[3].split("/")[-1] for w in
            (next(x for x in g if x.startswith("--command=")) for g in gcloud)] == names_in_order
    assert script.count(") &") == 2 and script.rstrip().endswith("wait")


def test_tpu_needs_names_and_zone():
    with pytest.raises(spec.SweepError, match="--tpu=NAME"):
        launch.tpu_script(_table2_runs(), launch.TpuOptions(names=[], zone="z", repo_dir="/r"))
    with pytest.raises(spec.SweepError, match="--zone"):
        launch.tpu_script(_table2_runs(), launch.TpuOptions(names=["a"], zone="", repo_dir="/r"))


@pytest.mark.parametrize("nodes", [1, 4])
def test_slurm_array_script_runs_task_i_as_run_i(nodes):
    runs = _table2_runs("/shared/t2")
    script = launch.slurm_script(runs, launch.SlurmOptions(
        repo_dir="/shared/vivit", job_name="vivit-t2", log_dir="/shared/t2", nodes=nodes,
        directives=["--gres=gpu:8", "--time=48:00:00"]))
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash"
    assert "#SBATCH --array=0-4" in lines
    assert f"#SBATCH --nodes={nodes}" in lines
    assert "#SBATCH --ntasks-per-node=1" in lines
    assert "#SBATCH --gres=gpu:8" in lines and "#SBATCH --time=48:00:00" in lines
    assert "#SBATCH --output=/shared/t2/slurm-%A_%a.out" in lines
    assert "cd /shared/vivit" in lines
    srun = [line.strip() for line in lines if line.strip().startswith("srun ")]
    assert len(srun) == 5
    for index, (line, run) in enumerate(zip(srun, runs)):
        assert f"  {index})  # {run.name}" in lines
        words = shlex.split(line.removesuffix(";;"))
        assert words[:3] == ["srun", "python3", "main.py"]
        expected = run.main_args() + (["--distributed=on"] if nodes > 1 else [])
        assert words[3:] == expected


@pytest.mark.slow
def test_cli_print_and_scripts(tmp_path):
    result = run_sweep_cli(f"--sweep={sweep_arg('table_2_variants.py')}",
                           f"--workdir={tmp_path}/p", "--launcher=print",
                           "--set=dataset_configs.base_dir=/data/k400")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and all("--config.dataset_configs.base_dir=/data/k400" in line
                                   for line in lines)
    assert (tmp_path / "p" / "sweep.json").is_file()
    # The same workdir for another sweep is refused (before any config is resolved).
    other = run_sweep_cli(f"--sweep={sweep_arg('table_3_temporal_layers.py')}",
                          f"--workdir={tmp_path}/p", "--launcher=print")
    assert other.returncode == 1
    assert error_lines(other.stderr) == [
        f"vivit.sweep: error: '{tmp_path}/p' already holds another sweep "
        "(configs/ablations/table_2_variants.py); use a new --workdir."]

    result = run_sweep_cli(f"--sweep={sweep_arg('table_2_variants.py')}",
                           f"--workdir={tmp_path}/s", "--launcher=slurm", "--repo_dir=/r",
                           "--slurm_nodes=2", "--slurm_directive=--gres=gpu:4")
    assert result.returncode == 0, result.stderr[-2000:]
    script = (tmp_path / "s" / "launch_slurm.sh").read_text()
    assert script == result.stdout and "#SBATCH --array=0-4" in script
    assert "#SBATCH --job-name=vivit-table_2_variants" in script

    result = run_sweep_cli(f"--sweep={sweep_arg('table_2_variants.py')}",
                           f"--workdir={tmp_path}/t", "--launcher=tpu", "--repo_dir=~/vivit",
                           "--tpu=v3-a,v3-b", "--zone=europe-west4-a")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "t" / "launch_tpu.sh").read_text().count("gcloud compute tpus") == 5


_T2 = "--sweep=configs/ablations/table_2_variants.py"


@pytest.mark.parametrize("args, message", [
    (["--sweep=configs/ablations/nope.py"],
     "Sweep file 'configs/ablations/nope.py' does not exist."),
    ([_T2, "--set=batch_size"], "--set=batch_size: expected KEY=VALUE, e.g. "
     "dataset_configs.base_dir=/data/k400."),
    ([_T2, "--set=batch_sise=8"], "Config 'configs/k400_fe.py' with the sweep's overrides: "
     "Unknown config key 'batch_sise' in --config.batch_sise=8. Did you mean 'batch_size'?"),
    ([_T2, "--launcher=tpu", "--repo_dir=/r"],
     "--launcher=tpu needs --tpu=NAME[,NAME...] (TPU VM names)."),
    ([_T2, "--launcher=slurm"], "--launcher=slurm needs --repo_dir (this repository's path on "
     "the machines that run the sweep)."),
])
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    if not any(a.startswith("--launcher") for a in args):
        args = [*args, "--launcher=print"]
    result = run_sweep_cli(*args, f"--workdir={tmp_path}")
    assert result.returncode == 1
    assert error_lines(result.stderr) == [f"vivit.sweep: error: {message}"]
    assert result.stdout == ""


def test_cli_without_sweep_is_a_usage_error(tmp_path):
    result = run_sweep_cli(f"--workdir={tmp_path}")
    assert result.returncode == 2 and "--sweep=FILE[:ARG] is required" in result.stderr
