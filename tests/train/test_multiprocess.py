"""Two local processes joined by jax.distributed train exactly like one process."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(*args):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.train.multiprocess_run", *map(str, args)], cwd=REPO_ROOT,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(process):
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    reports = [line for line in out.splitlines() if line.startswith("{")]
    return json.loads(reports[-1]) if reports else None


def test_two_processes_give_the_single_process_loss_curve():
    single = _result(_start("single", 4))
    port = _free_port()
    workers = [_start(i, 2, port) for i in range(2)]
    results = [_result(worker) for worker in workers]
    joined = results[0]
    assert results[1] is None  # Only process 0 reports.
    assert (single["processes"], joined["processes"]) == (1, 2)
    assert single["devices"] == joined["devices"] == 4
    np.testing.assert_allclose(joined["losses"], single["losses"], rtol=1e-5)


def _preemptible(workdir, steps, process_id, port):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tests.train.preemptible_run", str(workdir), str(steps), "0.3",
         str(process_id), str(port)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigterm_on_one_host_makes_every_process_save_the_same_step_and_resume(tmp_path):
    port = _free_port()
    workers = [_preemptible(tmp_path, 40, i, port) for i in range(2)]
    for line in workers[1].stdout:
        if line.startswith("loss 2 "):
            workers[1].send_signal(signal.SIGTERM)  # Only one host gets the notice.
            break
    outputs = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
        outputs.append(out)
    steps = [int(l.split()[1]) for out in outputs for l in out.splitlines()
             if l.startswith("preempted")]
    assert len(steps) == 2 and steps[0] == steps[1] and steps[0] < 40
    port = _free_port()
    resumed = [_preemptible(tmp_path, steps[0] + 2, i, port) for i in range(2)]
    for worker in resumed:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
        assert f"resumed {steps[0]}" in out
