"""One training run per workdir: a second is refused naming the holder (host, pid, start), a
lock left by a dead run is taken over, the heartbeat is refreshed, and a run that loses the
write race (object storage has no atomic create) is refused."""

import json
import socket
import subprocess
import sys
import time

import pytest

from vivit.train import workdir_lock
from vivit.train.workdir_lock import LOCK_FILE, WorkdirInUseError, WorkdirLock


def _write_lock(workdir, **record):
    base = {"host": socket.gethostname(), "pid": 1, "started": time.time(),
            "heartbeat": time.time(), "token": "someone-else"}
    base.update(record)
    (workdir / LOCK_FILE).write_text(json.dumps(base))
    return base


@pytest.fixture
def live_process():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process.pid
    process.kill()
    process.wait()


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_acquire_writes_host_pid_and_release_removes_it(tmp_path):
    lock = WorkdirLock(tmp_path, settle=0)
    lock.acquire()
    record = json.loads((tmp_path / LOCK_FILE).read_text())
    assert record["host"] == socket.gethostname() and record["pid"] > 0
    assert record["token"] == lock.token
    lock.release()
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_live_run_on_this_host_refuses_a_second_naming_it(tmp_path, live_process):
    _write_lock(tmp_path, pid=live_process, started=0.0)
    before = (tmp_path / LOCK_FILE).read_bytes()
    with pytest.raises(WorkdirInUseError) as refused:
        WorkdirLock(tmp_path, settle=0).acquire()
    message = str(refused.value)
    assert f"is in use by another training run (host {socket.gethostname()}, pid {live_process}, " \
           "started 1970-01-01 00:00:00 UTC" in message
    assert (tmp_path / LOCK_FILE).read_bytes() == before


def test_a_lock_of_a_dead_pid_on_this_host_is_taken_over(tmp_path, caplog):
    dead = _dead_pid()
    _write_lock(tmp_path, pid=dead)
    lock = WorkdirLock(tmp_path, settle=0)
    with caplog.at_level("WARNING"):
        lock.acquire()
    assert f"pid {dead} is no longer running on this host" in caplog.text
    assert json.loads((tmp_path / LOCK_FILE).read_text())["token"] == lock.token
    lock.release()


def test_another_hosts_lock_is_kept_while_its_heartbeat_is_fresh(tmp_path, caplog):
    _write_lock(tmp_path, host="worker-7", pid=4242, heartbeat=time.time() - 30)
    with pytest.raises(WorkdirInUseError, match="host worker-7, pid 4242"):
        WorkdirLock(tmp_path, settle=0, stale_after=600).acquire()
    _write_lock(tmp_path, host="worker-7", pid=4242, heartbeat=time.time() - 700)
    lock = WorkdirLock(tmp_path, settle=0, stale_after=600)
    with caplog.at_level("WARNING"):
        lock.acquire()
    assert "its heartbeat is 700 s old" in caplog.text
    lock.release()


def test_the_heartbeat_is_refreshed_while_the_lock_is_held(tmp_path):
    lock = WorkdirLock(tmp_path, settle=0, heartbeat_every=0.05)
    lock.acquire()
    first = json.loads((tmp_path / LOCK_FILE).read_text())["heartbeat"]
    time.sleep(0.5)
    later = json.loads((tmp_path / LOCK_FILE).read_text())
    lock.release()
    assert later["heartbeat"] > first and later["started"] == first


def test_losing_the_write_race_is_a_refusal(tmp_path, monkeypatch, live_process):
    def rival_writes_during_the_settle(seconds):
        _write_lock(tmp_path, pid=live_process, token="rival")

    monkeypatch.setattr(workdir_lock.time, "sleep", rival_writes_during_the_settle)
    with pytest.raises(WorkdirInUseError, match=f"pid {live_process}"):
        WorkdirLock(tmp_path).acquire()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["token"] == "rival"


def test_release_leaves_a_lock_that_another_run_took(tmp_path):
    lock = WorkdirLock(tmp_path, settle=0)
    lock.acquire()
    _write_lock(tmp_path, token="other")
    lock.release()
    assert json.loads((tmp_path / LOCK_FILE).read_text())["token"] == "other"


_GCS_SCRIPT = """
import json, os, sys
from etils import epath
from vivit.train.workdir_lock import LOCK_FILE, WorkdirInUseError, WorkdirLock
work = epath.Path(sys.argv[1])
lock = WorkdirLock(work, settle=0.2)
lock.acquire()
print("held", json.loads((work / LOCK_FILE).read_text())["token"] == lock.token)
lock.release()
print("released", not (work / LOCK_FILE).exists())
record = {"host": os.uname().nodename, "pid": int(sys.argv[2]), "started": 0.0,
          "heartbeat": 0.0, "token": "other"}
(work / LOCK_FILE).write_text(json.dumps(record))
try:
    WorkdirLock(work, settle=0.2).acquire()
except WorkdirInUseError as error:
    print("refused", error)
"""


@pytest.fixture
def gcs_emulator(tmp_path):
    """An in-memory GCS server with bucket 'vivit-test'; yields the environment to reach it."""
    import shutil
    import urllib.request

    executable = shutil.which("gcp-storage-emulator") or str(
        __import__("pathlib").Path(sys.executable).parent / "gcp-storage-emulator")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([executable, "start", "--host=127.0.0.1", f"--port={port}",
                               "--in-memory"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                request = urllib.request.Request(
                    f"{url}/storage/v1/b?project=test", data=b'{"name": "vivit-test"}',
                    headers={"Content-Type": "application/json"}, method="POST")
                urllib.request.urlopen(request, timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        yield {"STORAGE_EMULATOR_HOST": url, "EPATH_USE_TF": "false"}
    finally:
        server.kill()
        server.wait()


def test_the_lock_works_on_an_object_storage_workdir(gcs_emulator, live_process):
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", _GCS_SCRIPT, "gs://vivit-test/work", str(live_process)],
        cwd=root, env=dict(os.environ, PYTHONPATH=str(root), **gcs_emulator),
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[:2] == ["held True", "released True"], result.stdout
    assert lines[2].startswith("refused Workdir 'gs://vivit-test/work' is in use by another "
                               f"training run (host {os.uname().nodename}, pid {live_process}")
