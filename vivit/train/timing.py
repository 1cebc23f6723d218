"""Splits each train step's wall time into waiting for data and computing, for the logs.

A step counts as input-bound when more than `bottleneck_fraction` of its time is spent
waiting for the next batch; the summary then carries a warning the loop logs.
"""

from __future__ import annotations

import logging
import time
from typing import Callable


class StepTimer:
    """Accumulates data-wait and compute time between two summaries."""

    def __init__(self, bottleneck_fraction: float = 0.2,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.bottleneck_fraction = bottleneck_fraction
        self._clock = clock
        self._data_seconds = 0.0
        self._compute_seconds = 0.0
        self._steps = 0
        self._mark = clock()

    def begin_step(self) -> None:
        """Call just before asking for the next batch, so the time spent since the last step
        (evaluation, checkpoints, summaries) counts as neither data wait nor compute."""
        self._mark = self._clock()

    def data_ready(self) -> None:
        """Call when the next batch has arrived (ends the data-wait part of the step)."""
        now = self._clock()
        self._data_seconds += now - self._mark
        self._mark = now

    def step_done(self) -> None:
        """Call when the step's results are ready on the host (ends the compute part)."""
        now = self._clock()
        self._compute_seconds += now - self._mark
        self._mark = now
        self._steps += 1

    def summary(self, clips_per_step: int) -> dict[str, float]:
        """Per-step averages since the last summary, then resets; warns when input-bound."""
        if not self._steps:
            return {}
        total = self._data_seconds + self._compute_seconds
        result = {
            "step_seconds": total / self._steps,
            "data_wait_seconds": self._data_seconds / self._steps,
            "compute_seconds": self._compute_seconds / self._steps,
            "clips_per_second": clips_per_step * self._steps / max(total, 1e-9),
            "data_wait_fraction": self._data_seconds / max(total, 1e-9),
        }
        if result["data_wait_fraction"] > self.bottleneck_fraction:
            logging.warning(
                "The input pipeline is the bottleneck: %.0f%% of step time is spent waiting for "
                "data. More data-loading workers or a faster disk would speed training up.",
                100 * result["data_wait_fraction"])
        self._data_seconds = self._compute_seconds = 0.0
        self._steps = 0
        return result
