"""One training run per workdir: a lock file naming the run that holds it.

`<workdir>/vivit.lock` holds the host, pid, start time and a heartbeat time of the training run
that uses the workdir; a small thread refreshes the heartbeat. A second run is refused with one
line naming the holder. A lock left behind by a run that was killed is taken over with a warning:
on the same host when its pid is no longer alive, from another host when its heartbeat is older
than `stale_after` seconds.

Only `etils.epath` file operations are used (exists, read_text, write_text, unlink), so the lock
works for local and object-storage (gs://) workdirs alike. Object storage has no atomic
create-if-absent through that interface: a run writes its own random token, waits `settle`
seconds, and reads the file back; if another run's token is there, it lost the race. Two runs
that start within the same settle window on an eventually-consistent store could both believe
they won; on local disks and on GCS (strongly consistent reads after writes) the read-back
decides. In a multi-host job only process 0 takes the lock (see `acquire_for_job`).
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from etils import epath

from vivit.processes import pid_alive
from vivit.workdir import LOCK_FILE


class WorkdirInUseError(RuntimeError):
    """Another live run holds the workdir's lock."""


def _now() -> float:
    return time.time()


def _iso(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S UTC")


class WorkdirLock:
    """The lock of one workdir, held by this process between `acquire()` and `release()`."""

    def __init__(self, workdir: str | os.PathLike, *, stale_after: float = 600.0,
                 heartbeat_every: float = 30.0, settle: float = 0.5) -> None:
        self.path = epath.Path(workdir) / LOCK_FILE
        self.stale_after = stale_after
        self.heartbeat_every = heartbeat_every
        self.settle = settle
        self.token = uuid.uuid4().hex
        self._record: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> dict[str, Any] | None:
        """The lock's record; {} when it exists but cannot be parsed; None when absent."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            record = json.loads(text)
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def _holder(self, record: dict[str, Any]) -> str:
        return (f"host {record.get('host')}, pid {record.get('pid')}, started "
                f"{_iso(float(record.get('started', 0)))}, last heartbeat "
                f"{_iso(float(record.get('heartbeat', 0)))}")

    def _why_stale(self, record: dict[str, Any]) -> str | None:
        """Why the lock in `record` belongs to no live run, or None when it may be live."""
        if not record or "token" not in record:
            return "the lock file is unreadable"
        if record.get("host") == socket.gethostname():
            pid = int(record.get("pid", -1))
            if pid == os.getpid():
                return "it was left by this process"
            return None if pid_alive(pid) else f"pid {pid} is no longer running on this host"
        age = _now() - float(record.get("heartbeat", 0))
        if age > self.stale_after:
            return f"its heartbeat is {age:.0f} s old (more than {self.stale_after:.0f} s)"
        return None

    def _refuse(self, record: dict[str, Any]) -> WorkdirInUseError:
        return WorkdirInUseError(
            f"Workdir '{self.path.parent}' is in use by another training run ({self._holder(record)};"
            f" lock file {self.path}). Wait for it to finish or stop it; if that run is gone, "
            "delete the lock file.")

    def acquire(self) -> None:
        """Takes the lock, or raises WorkdirInUseError naming the run that holds it."""
        existing = self._read()
        if existing is not None:
            reason = self._why_stale(existing)
            if reason is None:
                raise self._refuse(existing)
            logging.warning("Taking over the lock of workdir '%s' (%s): %s.", self.path.parent,
                            self._holder(existing), reason)
        started = _now()
        self._record = {"host": socket.gethostname(), "pid": os.getpid(), "started": started,
                        "heartbeat": started, "token": self.token}
        self.path.write_text(json.dumps(self._record))
        time.sleep(self.settle)
        winner = self._read()
        if not winner or winner.get("token") != self.token:
            raise self._refuse(winner or {})
        self._thread = threading.Thread(target=self._beat, name="vivit-workdir-lock", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_every):
            try:
                current = self._read()
                if not current or current.get("token") != self.token:
                    logging.warning("The lock %s was taken by another run (%s).", self.path,
                                    self._holder(current or {}))
                    return
                self._record["heartbeat"] = _now()
                self.path.write_text(json.dumps(self._record))
            except OSError as error:  # A storage hiccup must not stop training.
                logging.warning("Could not refresh the lock %s: %s", self.path, error)

    def release(self) -> None:
        """Stops the heartbeat and removes the lock if it is still this run's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            current = self._read()
            if current and current.get("token") == self.token:
                self.path.unlink()
        except OSError as error:
            logging.warning("Could not remove the lock %s: %s", self.path, error)

    def __enter__(self) -> "WorkdirLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def acquire_for_job(workdir: str | os.PathLike) -> WorkdirLock | None:
    """Process 0 takes the workdir's lock; the other processes of a multi-host job learn the
    outcome from it (they belong to the same job, so they never check the lock themselves).
    Returns the lock held by this process (None on processes other than 0)."""
    import jax
    import numpy as np
    from jax.experimental import multihost_utils

    lock, failure = None, None
    if jax.process_index() == 0:
        lock = WorkdirLock(workdir)
        try:
            lock.acquire()
        except WorkdirInUseError as error:
            failure, lock = error, None
    if jax.process_count() > 1:
        refused = multihost_utils.broadcast_one_to_all(np.int32(failure is not None))
        if int(refused) and failure is None:
            raise WorkdirInUseError(
                f"Workdir '{workdir}' is in use by another training run (process 0 of this job "
                "was refused its lock; its error names the holder).")
    if failure is not None:
        raise failure
    return lock
