"""Where the loop's numbers go: clu metric writers (TensorBoard under the workdir + the console).

The default writer also logs every scalar to the console. Tags are `<split>/<metric>`: `train/loss`, `valid/accuracy`, `test/accuracy` (multi-view) and
`test/single_view_accuracy`, `test/num_videos`, ... Only process 0 writes event files; every
process logs. Progress and ETA come from clu's `ReportProgress` (logged and written as
`steps_per_sec`).

TensorBoard's writer appends to local files only (and TensorFlow's own gs:// support ignores
STORAGE_EMULATOR_HOST), so with a remote workdir the event file is written to a local mirror and
uploaded whole on flush (at most every few seconds, and at every checkpoint) and on close: a
killed run keeps the events up to its last checkpoint at least.
"""

from __future__ import annotations

import os
from typing import Mapping

import jax
from clu import metric_writers, periodic_actions

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
        self.progress = periodic_actions.ReportProgress(
            num_train_steps=total_steps, writer=self.writer, every_steps=progress_every)

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

