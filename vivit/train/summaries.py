"""Where the loop's numbers go: clu metric writers (TensorBoard under the workdir + the console).

The default writer also logs every scalar to the console. Tags are `<split>/<metric>`: `train/loss`, `valid/accuracy`, `test/accuracy` (multi-view) and
`test/single_view_accuracy`, `test/num_videos`, ... Only process 0 writes event files; every
process logs. `Progress` logs the step, the rate and the time left (`ETA 3m05s`), and writes
`steps_per_sec`.

TensorBoard's writer appends to local files only (and TensorFlow's own gs:// support ignores
STORAGE_EMULATOR_HOST), so with a remote workdir the event file is written to a local mirror and
uploaded whole on flush (at most every few seconds, and at every checkpoint) and on close: a
killed run keeps the events up to its last checkpoint at least.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable, Mapping

import jax
from clu import metric_writers

from vivit import storage


class Summaries:
    """One writer for the run; `write(step, split, values)` sends `split/name` scalars."""

    def __init__(
        self, workdir: str | os.PathLike, *, total_steps: int, progress_every: int,
        write_tensorboard: bool = True,
    ) -> None:
        lead = jax.process_index() == 0
        self._mirror = None
        logdir = None
        if lead and write_tensorboard:
            if storage.is_url(workdir):
                self._mirror = storage.LocalMirror(workdir)
                logdir = self._mirror.local_dir
            else:
                logdir = os.fspath(storage.resolve(workdir))
        self.writer = metric_writers.create_default_writer(logdir, just_logging=not lead)
        self.progress = Progress(total_steps, every_steps=progress_every, writer=self.writer)

    def write(self, step: int, split: str, values: Mapping[str, float]) -> None:
        self.writer.write_scalars(step, {f"{split}/{name}": value for name, value in values.items()})

    def flush(self, upload: bool = False) -> None:
        """Writes pending events; a remote workdir's are uploaded every few seconds, or now with
        upload=True."""
        self.writer.flush()
        if self._mirror is not None:
            self._mirror.sync(force=upload)

    def close(self) -> None:
        self.writer.close()
        if self._mirror is not None:
            self._mirror.close()



def format_duration(seconds: float) -> str:
    """`42s`, `3m05s`, `1h02m`, `2d03h`: the two largest units, the second zero-padded."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def progress_line(step: int, total_steps: int, steps_per_sec: float) -> str:
    """`Step 150/600 (25%), 3.2 steps/s, ETA 2m21s`: the time left at the given rate (under one
    step a second, the rate reads as seconds per step: `4.75 s/step`)."""
    rate = (f"{steps_per_sec:.1f} steps/s" if steps_per_sec >= 1
            else f"{1 / steps_per_sec:.3g} s/step")
    eta = format_duration((total_steps - step) / steps_per_sec)
    return f"Step {step}/{total_steps} ({100 * step // total_steps}%), {rate}, ETA {eta}"


class Progress:
    """Logs `progress_line` every `every_steps` steps, at the last step and at least every
    `every_secs`, at the rate since the previous report. The first call only starts the clock,
    so the first step (which compiles) is left out. Writes `steps_per_sec` and `uptime`."""

    def __init__(
        self, total_steps: int, *, every_steps: int, writer: metric_writers.MetricWriter | None,
        every_secs: float = 60.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total_steps = total_steps
        self.every_steps = every_steps
        self.every_secs = every_secs
        self._writer = writer
        self._clock = clock
        self._start = clock()
        self._last: tuple[int, float] | None = None  # (step, time) of the previous report.

    def __call__(self, step: int) -> str | None:
        """Call after every step; returns the line when it reported."""
        now = self._clock()
        if self._last is None:
            self._last = (step, now)
            return None
        last_step, last_time = self._last
        due = (step % self.every_steps == 0 or step == self.total_steps
               or now - last_time >= self.every_secs)
        if not due or step <= last_step or now <= last_time:
            return None
        steps_per_sec = (step - last_step) / (now - last_time)
        self._last = (step, now)
        line = progress_line(step, self.total_steps, steps_per_sec)
        logging.info("%s", line)
        if self._writer is not None:
            self._writer.write_scalars(
                step, {"steps_per_sec": steps_per_sec, "uptime": now - self._start})
        return line
