"""The events of a jax.profiler trace of one call, for benchmarks that read XLA's own timings."""

from __future__ import annotations

import glob
import os
import tempfile
from typing import Any, Callable, NamedTuple


class Event(NamedTuple):
    name: str
    start_ns: int
    duration_ns: int


def profiled_events(call: Callable[[], Any]) -> list[Event]:
    """Runs `call()` under jax.profiler and returns every event of every thread in the trace
    (XLA's compile phases, its kernels, Python scopes), read through the public ProfileData."""
    import jax

    events = []
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            call()
        for path in glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True):
            for plane in jax.profiler.ProfileData.from_file(path).planes:
                for line in plane.lines:
                    events += [Event(event.name, event.start_ns, event.duration_ns)
                               for event in line.events]
    return events
