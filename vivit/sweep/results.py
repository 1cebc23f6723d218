"""A run's final multi-view test metrics: read from its TensorBoard events (`test/*` at the last
step that has them), and kept in `result.json`, the sweep's finished marker."""

from __future__ import annotations

import json
import math
from typing import Any

from etils import epath

from vivit import storage
from vivit.workdir import RESULT_FILE



def _scalar(value: Any) -> float | None:
    """The number in one TensorBoard summary value (tensor or simple_value)."""
    from tensorboard.util import tensor_util

    if value.HasField("tensor"):
        array = tensor_util.make_ndarray(value.tensor)
        if array.size != 1 or array.dtype.kind not in "fiub":
            return None
        return float(array.reshape(()))
    if value.HasField("simple_value"):
        return float(value.simple_value)
    return None


def read_scalars(workdir: epath.PathLike, prefix: str) -> dict[int, dict[str, float]]:
    """{step: {tag without prefix: value}} of every tag under `prefix` in the workdir's events
    (later files and later events win, so a resumed run's re-test replaces the old one)."""
    from tensorboard.backend.event_processing import event_file_loader

    steps: dict[int, dict[str, float]] = {}
    for path in sorted(epath.Path(workdir).glob("events.out.tfevents.*")):
        # TensorFlow's own GCS client would read gs:// paths: go through vivit.storage instead.
        with storage.local_copy(str(path)) as local:
            events = list(event_file_loader.EventFileLoader(local).Load())
        for event in events:
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                if value.tag.startswith(prefix):
                    number = _scalar(value)
                    if number is not None:
                        steps.setdefault(int(event.step), {})[value.tag[len(prefix):]] = number
    return steps


def accuracy_key(metrics: dict[str, float]) -> str | None:
    """'accuracy', else the joint (action) accuracy of a multi-head model ('noun-verb_accuracy')."""
    if "accuracy" in metrics:
        return "accuracy"
    joint = [k for k in metrics if k.endswith("_accuracy") and "-" in k
             and not k.startswith("single_view_")]
    return joint[0] if joint else None


def final_test_metrics(workdir: epath.PathLike) -> dict[str, float]:
    """The multi-view test metrics at the last step that has them ({} if there are none)."""
    steps = read_scalars(workdir, "test/")
    for step in sorted(steps, reverse=True):
        if accuracy_key(steps[step]) is not None:
            return dict(steps[step], step=float(step))
    return {}


def read_result(workdir: epath.PathLike) -> dict[str, Any] | None:
    path = epath.Path(workdir) / RESULT_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # A half-written marker means the run did not finish.


def write_result(workdir: epath.PathLike, command: str, metrics: dict[str, float],
                 seconds: float) -> None:
    """Writes result.json atomically (a temporary file renamed), so it exists only when whole."""
    path = epath.Path(workdir) / RESULT_FILE
    temporary = path.with_suffix(".json.tmp")
    clean = {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}
    temporary.write_text(json.dumps(
        {"command": command, "metrics": clean, "wall_seconds": round(seconds, 1)}, indent=2))
    temporary.replace(path)


def metrics_of(workdir: epath.PathLike) -> dict[str, float]:
    """The run's saved result, else whatever final test its events hold (tpu/slurm runs)."""
    result = read_result(workdir)
    if result is not None:
        return dict(result.get("metrics", {}))
    if not epath.Path(workdir).is_dir():
        return {}
    return final_test_metrics(workdir)
