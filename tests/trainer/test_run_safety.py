"""`python main.py` end to end: a damaged latest checkpoint is skipped for the newest intact one
(training, --mode=test), never deleted; `pretrained info` names the damaged step; a second run
on a busy workdir is refused naming the first, and a killed run's lock is taken over."""

import re
import shutil
import signal
import socket
import time

import numpy as np
import pytest

from tests.trainer.main_runner import (
    FAST_OVERRIDES, checkpoint_steps, read_scalars, run_main, start_main)
from vivit.pretrained.__main__ import main as checkpoints_cli

pytestmark = pytest.mark.slow
TWENTY = FAST_OVERRIDES + ("--config.num_training_steps=20", "--config.lr_configs.warmup_steps=2")


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """A finished 20-step run with checkpoints at steps 10 and 20 (not to be modified: copy it)."""
    workdir = tmp_path_factory.mktemp("two_checkpoints")
    result = run_main(workdir, *TWENTY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert checkpoint_steps(workdir) == [10, 20]
    return workdir


def _copy(workdir, tmp_path):
    target = tmp_path / "work"
    shutil.copytree(workdir, target)
    return target


def _truncate_an_array_file(step_dir):
    largest = max((p for p in step_dir.rglob("*") if p.is_file() and p.parent.name == "d"),
                  key=lambda p: p.stat().st_size)
    largest.write_bytes(largest.read_bytes()[:100])
    return largest


def _losses(workdir):
    return {step: values for step, values in read_scalars(workdir)["train/loss"].items()}


def test_training_resumes_from_the_newest_intact_step_and_keeps_the_damaged_one(
        two_checkpoints, tmp_path, capsys):
    workdir = _copy(two_checkpoints, tmp_path)
    damaged = _truncate_an_array_file(workdir / "checkpoints" / "20")
    damaged_bytes = damaged.read_bytes()

    assert checkpoints_cli(["info", str(workdir)]) == 0
    report = capsys.readouterr().out
    assert "  20: CORRUPT: its arrays cannot be read" in report
    assert "  10: intact" in report and "newest intact step: 10" in report

    result = run_main(workdir, *TWENTY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Checkpoint step 20 in {workdir / 'checkpoints'} is corrupt and is skipped" in result.stderr
    assert f"Resumed from {workdir / 'checkpoints'} at step 10." in result.stderr
    assert "Traceback" not in result.stderr
    # Steps 11-20 were trained twice (first run, resumed run): the same losses both times.
    losses = _losses(workdir)
    for step in range(11, 21):
        assert len(losses[step]) == 2, (step, losses[step])
        np.testing.assert_allclose(losses[step][1], losses[step][0], rtol=1e-6)
    # Nothing deleted: the damaged step was moved aside, and step 20 was saved anew.
    moved = workdir / "corrupt_checkpoints" / "20"
    assert (moved / damaged.relative_to(workdir / "checkpoints" / "20")).read_bytes() == damaged_bytes
    assert checkpoints_cli(["info", str(workdir)]) == 0
    assert "  20: intact" in capsys.readouterr().out


def test_test_mode_uses_the_newest_intact_step(two_checkpoints, tmp_path):
    workdir = _copy(two_checkpoints, tmp_path)
    _truncate_an_array_file(workdir / "checkpoints" / "20")
    result = run_main(workdir, *TWENTY, "--mode=test")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Checkpoint step 20" in result.stderr and "is corrupt and is skipped" in result.stderr
    assert "Restored step 10 from" in result.stderr
    assert "Traceback" not in result.stderr
    assert (workdir / "checkpoints" / "20").is_dir()  # Read-only modes move nothing.


def test_an_emptied_metadata_file_is_damage_not_a_config_change(two_checkpoints, tmp_path):
    workdir = _copy(two_checkpoints, tmp_path)
    (workdir / "checkpoints" / "20" / "state" / "_METADATA").write_text("")
    result = run_main(workdir, *TWENTY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "_METADATA is empty or unreadable" in result.stderr
    assert "does not fit the train state" not in result.stderr
    assert "at step 10." in result.stderr


def test_a_second_run_is_refused_and_a_killed_runs_lock_is_taken_over(tmp_path):
    long_run = FAST_OVERRIDES + ("--config.num_training_steps=5000",)  # Stopped by signals.
    first = start_main(tmp_path, *long_run)
    deadline = time.time() + 300
    while not checkpoint_steps(tmp_path):
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.time() < deadline, "the first run wrote no checkpoint"
        time.sleep(0.05)
    events_before = sorted(p.name for p in tmp_path.glob("events.out.tfevents.*"))

    second = run_main(tmp_path, *long_run)
    assert second.returncode == 1, second.stderr[-3000:]
    line = second.stderr.strip().splitlines()[-1]
    assert re.match(
        rf"main\.py: error: Workdir '{re.escape(str(tmp_path))}' is in use by another training "
        rf"run \(host {re.escape(socket.gethostname())}, pid {first.pid}, started \d{{4}}-", line)
    assert first.poll() is None, "the refused run stopped the first one"
    assert sorted(p.name for p in tmp_path.glob("events.out.tfevents.*")) == events_before

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    assert (tmp_path / "vivit.lock").exists()  # A killed run cannot remove its lock.
    third = start_main(tmp_path, *long_run)
    seen = []
    for output_line in third.stderr:  # Until it trains in the taken-over workdir.
        seen.append(output_line)
        if "train/learning_rate=" in output_line:
            break
    third.send_signal(signal.SIGTERM)
    _, rest = third.communicate(timeout=120)
    stderr = "".join(seen) + rest
    assert third.returncode == 0, stderr[-3000:]
    assert f"pid {first.pid} is no longer running on this host" in stderr
    assert "Resumed from" in stderr
    assert not (tmp_path / "vivit.lock").exists()


def test_a_named_corrupt_step_is_one_line_naming_it(two_checkpoints, tmp_path):
    workdir = _copy(two_checkpoints, tmp_path)
    (workdir / "checkpoints" / "10" / "state" / "_METADATA").write_text("")
    result = run_main(workdir, *TWENTY, "--mode=eval", "--checkpoint=10")
    assert result.returncode == 1, result.stderr[-3000:]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"main.py: error: Checkpoint step 10 in {workdir / 'checkpoints'} is "
                           "corrupt: ") and "_METADATA is empty or unreadable" in line
