"""`python main.py` as two processes joined by jax.distributed (2 CPU devices each): both
finish, agree on every step's loss, write one set of checkpoints and summaries, and give the
loss curve of a single process (the global batch does not depend on the number of processes).
"""

import re
import socket
import subprocess

import pytest

import numpy as np

from tests.trainer.main_runner import (
    FAST_OVERRIDES, REPO_ROOT, checkpoint_steps, environment, main_command, read_scalars,
    run_main)

pytestmark = pytest.mark.slow
STEPS = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _logged_losses(stderr: str) -> dict[int, str]:
    return {int(step): loss for step, loss in
            re.findall(r"\] \[(\d+)\] train/accuracy=.*?train/loss=([0-9.e+-]+)", stderr)}


def _curve(workdir) -> list[float]:
    losses = read_scalars(workdir)["train/loss"]
    assert sorted(losses) == list(range(1, STEPS + 1))
    return [losses[step][0] for step in range(1, STEPS + 1)]


def test_two_processes_train_together_and_match_one_process(tmp_path):
    run_flags = (*FAST_OVERRIDES, f"--config.num_training_steps={STEPS}")
    single = run_main(tmp_path / "single", *run_flags)
    assert single.returncode == 0, single.stderr[-3000:]

    workdir = tmp_path / "two_processes"
    flags = (*run_flags, f"--coordinator_address=127.0.0.1:{_free_port()}", "--num_processes=2")
    workers = [
        subprocess.Popen(
            main_command(workdir, *flags, f"--process_id={i}"), cwd=REPO_ROOT,
            env=environment(JAX_NUM_CPU_DEVICES="2"), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        for i in range(2)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
    assert "Process 0 of 2; 2 local devices of 4." in outputs[0][1]
    assert "Process 1 of 2; 2 local devices of 4." in outputs[1][1]
    losses = [_logged_losses(stderr) for _, stderr in outputs]
    assert sorted(losses[0]) == list(range(1, STEPS + 1))
    assert losses[0] == losses[1]
    assert checkpoint_steps(workdir) == [10, 20]
    assert len(list(workdir.glob("events.out.tfevents.*"))) == 1
    # 4 devices in two processes vs 1 device: the same batches, summed in another order.
    np.testing.assert_allclose(_curve(workdir), _curve(tmp_path / "single"), rtol=1e-4)
