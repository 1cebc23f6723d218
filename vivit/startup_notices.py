"""Start-up notices of TensorFlow and JAX, kept off the console; their warnings stay on it.

Before our first line, a run used to print (all informational, none a problem):

- `This TensorFlow binary is optimized to use available CPU instructions ...` (TensorFlow's
  cpu_feature_guard.cc, an INFO log): hidden by TensorFlow itself at `TF_CPP_MIN_LOG_LEVEL=1`,
  which `silence()` sets unless the user set a level. Level 1 drops TensorFlow's INFO logs
  only; its warnings and errors still print.
- `oneDNN custom operations are on ...` (port.cc, INFO), twice, each after `WARNING: All log
  messages before absl::InitializeLog() is called are written to STDERR` (absl's note that
  logging is not set up yet). TensorFlow logs them while its shared libraries load, before
  it reads TF_CPP_MIN_LOG_LEVEL (so even level 3 shows them): `import tensorflow` runs with
  its stderr passed through a filter that drops exactly those lines, whenever the level is 1
  or more. (TF_ENABLE_ONEDNN_OPTS=0 would hide the notice by turning the oneDNN kernels off,
  which changes numerics: not used.)
- `Unable to initialize backend 'tpu': ... libtpu.so ...` (jax._src.xla_bridge, a Python INFO
  log when JAX probes for a TPU that is not there): dropped by a filter on that logger; JAX's
  warnings, and its other records, pass.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import threading
from typing import Iterator, Sequence

TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
# The level set when the user set none: TensorFlow's INFO logs off, warnings and errors on.
DEFAULT_TF_LOG_LEVEL = "1"
# Lines TensorFlow prints while loading whatever TF_CPP_MIN_LOG_LEVEL says (substrings).
TENSORFLOW_LOAD_NOTICES = (
    b"All log messages before absl::InitializeLog() is called are written to STDERR",
    b"oneDNN custom operations are on.",
)
TPU_PROBE_NOTICE = "Unable to initialize backend 'tpu'"


def silence() -> None:
    """Sets TensorFlow's log level (unless set) and installs the two filters; call it before
    TensorFlow is imported (`vivit/__init__.py` does). Calling it again changes nothing."""
    level = os.environ.setdefault(TF_LOG_LEVEL, DEFAULT_TF_LOG_LEVEL)
    if _hides_info(level) and "tensorflow" not in sys.modules and not any(
            isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
    probe_logger = logging.getLogger("jax._src.xla_bridge")
    if not any(isinstance(f, DropTpuProbeNotice) for f in probe_logger.filters):
        probe_logger.addFilter(DropTpuProbeNotice())


def _hides_info(level: str) -> bool:
    """Whether TF_CPP_MIN_LOG_LEVEL=level hides INFO logs (TensorFlow reads a bad value as 0)."""
    try:
        return int(level) >= 1
    except ValueError:
        return False


class DropTpuProbeNotice(logging.Filter):
    """Drops JAX's INFO record that no TPU was found; keeps everything else it logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or not record.getMessage().startswith(
            TPU_PROBE_NOTICE)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as the other finders do, and has it executed (the shared libraries
    loaded) with its load notices filtered out of stderr."""

    def __init__(self) -> None:
        self._finding = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow" or self._finding:
            return None
        self._finding = True  # The lookup below asks every finder, this one included.
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding = False
        if spec is None or spec.loader is None:
            return None
        spec.loader = _FilteringLoader(spec.loader)
        return spec


class _FilteringLoader(importlib.abc.Loader):
    """The package's own loader, run inside `stderr_without`; gives the module its own loader
    back afterwards, so nothing after the import sees this one."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__spec__.loader = module.__loader__ = self._loader
        with stderr_without(TENSORFLOW_LOAD_NOTICES):
            self._loader.exec_module(module)


@contextlib.contextmanager
def stderr_without(notices: Sequence[bytes]) -> Iterator[None]:
    """Passes what anything in the process (C++ libraries included) writes to file descriptor 2
    on to it, line by line, minus the lines that contain one of `notices`."""
    sys.stderr.flush()
    try:
        console = os.dup(2)
    except OSError:  # No stderr to filter.
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    forwarder = threading.Thread(target=_forward_lines, args=(read_end, console, notices),
                                 name="stderr-filter", daemon=True)
    forwarder.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(console, 2)  # Closes the pipe's last write end: the forwarder reads to its end.
        forwarder.join()
        os.close(read_end)
        os.close(console)


def _forward_lines(read_end: int, console: int, notices: Sequence[bytes]) -> None:
    pending = b""
    while chunk := os.read(read_end, 1 << 16):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            if not any(notice in line for notice in notices):
                _write_all(console, line + b"\n")
    if pending and not any(notice in pending for notice in notices):
        _write_all(console, pending)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
