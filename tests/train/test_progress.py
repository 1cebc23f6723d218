"""The progress line: the time left reads well at every scale, and comes from the recent rate."""

import pytest

from vivit.train.summaries import Progress, format_duration, progress_line


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (0.4, "0s"), (42, "42s"), (59.4, "59s"), (59.6, "1m00s"), (185, "3m05s"),
    (3599, "59m59s"), (3600, "1h00m"), (3720, "1h02m"), (3779, "1h02m"), (86399, "23h59m"),
    (86400, "1d00h"), (183600, "2d03h"), (-5, "0s"),
])
def test_durations_read_in_their_two_largest_units(seconds, text):
    assert format_duration(seconds) == text


def test_progress_line_names_step_rate_and_time_left():
    assert progress_line(150, 600, 2.0) == "Step 150/600 (25%), 2.0 steps/s, ETA 3m45s"
    assert progress_line(599, 600, 40.0) == "Step 599/600 (99%), 40.0 steps/s, ETA 0s"
    # Slow steps read as seconds per step.
    assert progress_line(10, 1000, 0.25) == "Step 10/1000 (1%), 4 s/step, ETA 1h06m"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class _Writer:
    def __init__(self) -> None:
        self.scalars: dict[int, dict[str, float]] = {}

    def write_scalars(self, step: int, values: dict[str, float]) -> None:
        self.scalars[step] = dict(values)


def test_the_estimate_uses_the_rate_since_the_previous_report():
    clock, writer = _Clock(), _Writer()
    progress = Progress(600, every_steps=50, writer=writer, clock=clock)
    clock.now += 30.0  # The first step compiles: it only starts the clock.
    assert progress(1) is None
    lines = {}
    for step in range(2, 201):
        clock.now += 0.5 if step <= 100 else 0.25  # 2 steps/s, then 4.
        lines[step] = progress(step)
    assert {step for step, line in lines.items() if line} == {50, 100, 150, 200}
    assert lines[50] == "Step 50/600 (8%), 2.0 steps/s, ETA 4m35s"  # 550 steps at 2/s.
    assert lines[150] == "Step 150/600 (25%), 4.0 steps/s, ETA 1m52s"  # 450 steps at 4/s.
    assert writer.scalars[150]["steps_per_sec"] == pytest.approx(4.0)
    assert writer.scalars[150]["uptime"] == pytest.approx(30.0 + 99 * 0.5 + 50 * 0.25)


def test_reports_at_the_last_step_and_at_least_every_minute():
    clock = _Clock()
    progress = Progress(25, every_steps=1000, writer=None, every_secs=60.0, clock=clock)
    progress(0)
    reported = []
    for step in range(1, 26):
        clock.now += 10.0
        if progress(step):
            reported.append(step)
    assert reported == [6, 12, 18, 24, 25]
