"""Metrics of any task on the host: merging clu metrics over batches and turning them into floats.

Which metrics a run computes is its task's (`vivit.tasks.metrics`); here they are only combined.
"""

from __future__ import annotations

from typing import Mapping

from clu import metrics as clu_metrics

from vivit.tasks.metrics import Metrics


def merge_metrics(total: Metrics | None, new: Metrics) -> Metrics:
    """Merges this batch's metrics into the running totals (None starts them)."""
    if total is None:
        return dict(new)
    return {name: total[name].merge(new[name]) for name in total}


def compute_metrics(metrics: Mapping[str, clu_metrics.Metric]) -> dict[str, float]:
    """Final values as Python floats, ready for a clu metric writer.

    A metric that computes several values (`AveragePrecision`: mAP and one AP per class) returns
    them named; the prefix of its key before its first name ('single_view_') is kept.
    """
    result = {}
    for name, metric in metrics.items():
        value = metric.compute()
        if isinstance(value, Mapping):
            prefix = name[: len(name) - len(next(iter(value)))]
            result.update({prefix + key: float(v) for key, v in value.items()})
        else:
            result[name] = float(value)
    return result
