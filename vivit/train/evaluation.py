"""Runs a jitted eval/test step over a split and sums up its metrics on the host.

The validation and test iterators yield one pass over the split with the last batch padded
(batch_mask 0); padded examples are masked inside the step, so the counts here are the number of
real videos evaluated, which is reported next to the accuracy.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping

import numpy as np
from jax.sharding import Mesh

from vivit.train import mesh as mesh_lib
from vivit.train import metrics as metrics_lib


def evaluate(
    step_fn: Callable[[Any, Mapping[str, Any]], metrics_lib.Metrics],
    state: Any,
    batches: Iterable[Mapping[str, np.ndarray]],
    mesh: Mesh,
    *,
    max_batches: int | None = None,
) -> dict[str, float]:
    """Metrics of `step_fn` over `batches` (at most max_batches), plus 'num_examples' and
    'eval_seconds'.

    The number of examples is the count of the first metric ending in 'accuracy' (else of
    the first metric, a loss); it counts only unmasked examples.
    """
    start = time.perf_counter()
    total: metrics_lib.Metrics | None = None
    for index, local_batch in enumerate(batches):
        if max_batches is not None and index >= max_batches:
            break
        total = metrics_lib.merge_metrics(total, step_fn(state, mesh_lib.global_batch(
            mesh, local_batch)))
    if total is None:
        raise ValueError("The evaluation split yielded no batches.")
    name = next(
        (key for key in total if key.endswith("accuracy") and not key.startswith("single_view")),
        next(iter(total)))
    result = metrics_lib.compute_metrics(total)
    result["num_examples"] = float(int(total[name].count))
    result["eval_seconds"] = time.perf_counter() - start
    return result
