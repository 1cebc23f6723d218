"""`python main.py` end to end: exact resume after SIGKILL, clean exit on SIGTERM, and the same
loss curve on 8 simulated devices (data parallel and fully sharded) as on one."""

import signal
import time

import numpy as np
import pytest

from tests.trainer.main_runner import (
    FAST_OVERRIDES, checkpoint_steps, read_scalars, run_main, start_main)

pytestmark = pytest.mark.slow
TOTAL_STEPS = 60


def _losses(workdir) -> dict[int, float]:
    """Per-step training loss; a step written by two runs (killed, then resumed) must agree."""
    losses = {}
    for step, values in read_scalars(workdir)["train/loss"].items():
        np.testing.assert_allclose(values, values[0], rtol=1e-6, err_msg=f"step {step}")
        losses[step] = values[0]
    return losses


def _assert_same_curve(workdir, reference, rtol=1e-6, drift_rtol=None):
    """Per-step losses equal within rtol; with drift_rtol, only the first 30 steps are held to
    rtol and the rest to drift_rtol (summation order differs between meshes, and Adam carries
    the rounding differences forward, so they grow slowly over a run)."""
    losses = _losses(workdir)
    assert sorted(losses) == list(range(1, TOTAL_STEPS + 1))
    steps = sorted(reference)
    actual, expected = [losses[s] for s in steps], [reference[s] for s in steps]
    if drift_rtol is None:
        np.testing.assert_allclose(actual, expected, rtol=rtol)
    else:
        np.testing.assert_allclose(actual[:30], expected[:30], rtol=rtol)
        np.testing.assert_allclose(actual, expected, rtol=drift_rtol)


@pytest.fixture(scope="module")
def reference_losses(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    result = run_main(workdir, *FAST_OVERRIDES)
    assert result.returncode == 0, result.stderr[-3000:]
    losses = _losses(workdir)
    assert sorted(losses) == list(range(1, TOTAL_STEPS + 1))
    assert losses[TOTAL_STEPS] < losses[1]
    return losses


def _wait_for_checkpoint(process, workdir, timeout=300):
    deadline = time.time() + timeout
    while not checkpoint_steps(workdir):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


def test_sigkill_after_a_checkpoint_then_restart_gives_the_same_losses(tmp_path, reference_losses):
    process = start_main(tmp_path, *FAST_OVERRIDES)
    _wait_for_checkpoint(process, tmp_path)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    saved = checkpoint_steps(tmp_path)
    assert saved and saved[-1] < TOTAL_STEPS, f"the run finished before the kill: {saved}"

    result = run_main(tmp_path, *FAST_OVERRIDES)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Resumed from {tmp_path / 'checkpoints'} at step {saved[-1]}" in result.stderr
    _assert_same_curve(tmp_path, reference_losses)


def test_sigterm_saves_a_checkpoint_exits_0_and_the_run_resumes_from_it(tmp_path, reference_losses):
    process = start_main(tmp_path, *FAST_OVERRIDES)
    _wait_for_checkpoint(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    assert "Preempted: saved step" in stderr
    preempted_at = checkpoint_steps(tmp_path)[-1]
    assert f"saved step {preempted_at}" in stderr
    assert preempted_at < TOTAL_STEPS

    result = run_main(tmp_path, *FAST_OVERRIDES)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"at step {preempted_at}." in result.stderr
    _assert_same_curve(tmp_path, reference_losses)


def test_ctrl_c_saves_like_sigterm_and_the_run_resumes_from_it(tmp_path, reference_losses):
    process = start_main(tmp_path, *FAST_OVERRIDES)
    _wait_for_checkpoint(process, tmp_path)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    assert "Interrupted (Ctrl-C): saving a checkpoint" in stderr
    interrupted_at = checkpoint_steps(tmp_path)[-1]
    assert f"Preempted: saved step {interrupted_at}" in stderr
    assert interrupted_at < TOTAL_STEPS

    result = run_main(tmp_path, *FAST_OVERRIDES)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"at step {interrupted_at}." in result.stderr
    _assert_same_curve(tmp_path, reference_losses)


@pytest.mark.parametrize("mesh", [
    ("--config.mesh.fsdp=1",),
    ("--config.mesh.fsdp=-1", "--config.mesh.fsdp_min_size=64"),
], ids=["data_parallel", "fully_sharded"])
def test_eight_devices_give_the_single_device_loss_curve(tmp_path, reference_losses, mesh):
    result = run_main(tmp_path, *FAST_OVERRIDES, *mesh, devices=8)
    assert result.returncode == 0, result.stderr[-3000:]
    expected_mesh = "{'data': 8, 'fsdp': 1}" if mesh[0].endswith("=1") else "{'data': 1, 'fsdp': 8}"
    assert f"on a {expected_mesh} mesh" in result.stderr
    _assert_same_curve(tmp_path, reference_losses, rtol=1e-4, drift_rtol=1e-2)
