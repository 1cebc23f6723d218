"""`python main.py` as two processes joined by jax.distributed (2 CPU devices each): both
finish, agree on every step's loss, and write one set of checkpoints and summaries.

Step-level equality with a single process for the same global batch is tested in
tests/train/test_multiprocess.py; here the processes read their own shares of the data.
"""

import re
import socket
import subprocess

import pytest

from tests.trainer.main_runner import (
    FAST_OVERRIDES, REPO_ROOT, checkpoint_steps, environment, main_command, read_scalars)

pytestmark = pytest.mark.slow
STEPS = 20


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _logged_losses(stderr: str) -> dict[int, str]:
    return {int(step): loss for step, loss in
            re.findall(r"\] \[(\d+)\] train/accuracy=.*?train/loss=([0-9.e+-]+)", stderr)}


def test_two_processes_train_together_and_agree(tmp_path):
    port = _free_port()
    flags = (*FAST_OVERRIDES, f"--config.num_training_steps={STEPS}",
             f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2")
    workers = [
        subprocess.Popen(
            main_command(tmp_path, *flags, f"--process_id={i}"), cwd=REPO_ROOT,
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
    assert checkpoint_steps(tmp_path) == [10, 20]
    assert sorted(read_scalars(tmp_path)["train/loss"]) == list(range(1, STEPS + 1))
    assert len(list(tmp_path.glob("events.out.tfevents.*"))) == 1
