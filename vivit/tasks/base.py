"""The `Task` interface every label type implements, and the helpers the tasks share.

A task owns everything that depends on what the labels are: the model's output width, the label
layout the data pipeline must produce, float targets for mixup, the loss (with label smoothing),
the metrics (per batch in training; over the whole split in evaluation), the default
best-checkpoint metric, how test views are averaged, and how a prediction is scored and printed.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vivit.tasks.metrics import Metrics

# What a source must put in `VideoRecord.label` for a task.
INDEX, PER_HEAD, MULTI_HOT = "index", "per_head", "multi_hot"
# What the task's model takes: video clips [batch, time, height, width, 3] or images.
VIDEO, IMAGE = "video", "image"
# --mode=predict: multi-label classes at or above this probability are printed.
MULTILABEL_THRESHOLD = 0.5


def smoothing(config: ml_collections.ConfigDict) -> float | None:
    """config.label_smoothing, checked: None (off) or a fraction in [0, 1)."""
    value = config.get("label_smoothing")
    if value is not None and not 0.0 <= float(value) < 1.0:
        raise ValueError(f"label_smoothing must be None or in [0, 1), got {value}.")
    return float(value) if value else None


def checked_num_classes(value: int | None) -> int:
    """dataset_configs.num_classes, checked where an output width is needed (the metrics and
    losses of single- and multi-label tasks work on any width)."""
    if value is None or isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(
            f"dataset_configs.num_classes must be a positive integer, got {value!r}.")
    return int(value)


def ranked_pairs(scores: np.ndarray, names: Sequence[str], count: int
                 ) -> list[tuple[str, float]]:
    """The `count` best (name, score) pairs, best first (ties keep the output order)."""
    order = np.argsort(-scores, kind="stable")[:count]
    return [(names[i], float(scores[i])) for i in order]


def rank_lines(ranked: Sequence[tuple[str, float]], indent: str = "  ") -> list[str]:
    """Numbered lines of ranked pairs, as --mode=predict prints them."""
    return [f"{indent}{rank}. {name:<30} {score:.4f}"
            for rank, (name, score) in enumerate(ranked, start=1)]


@dataclasses.dataclass(frozen=True)
class Task:
    """The interface every task implements (see the module docstring)."""

    label_smoothing: float | None

    model_name: ClassVar[str]
    label_layout: ClassVar[str]
    inputs: ClassVar[str] = VIDEO

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "Task":
        """The task a config describes; a missing or inconsistent key is a ValueError naming it."""
        raise NotImplementedError

    @property
    def num_outputs(self) -> int:
        """Width of the model's output layer."""
        raise NotImplementedError

    def targets(self, labels: jax.Array) -> jax.Array:
        """Float targets [batch, num_outputs] of a batch's labels (what mixup mixes)."""
        raise NotImplementedError

    def loss(self, logits: jax.Array, labels: jax.Array,
             weights: jax.Array | None = None) -> jax.Array:
        """Weighted mean loss over examples, labels integer or float targets."""
        raise NotImplementedError

    def metrics(self, logits: jax.Array, labels: jax.Array,
                mask: jax.Array | None = None) -> Metrics:
        """Per-batch metrics (training), clu metrics that merge over batches."""
        raise NotImplementedError

    def eval_metrics(self, logits: jax.Array, labels: jax.Array,
                     mask: jax.Array | None = None) -> Metrics:
        """Validation / test metrics: the batch metrics plus any that need the whole split."""
        return self.metrics(logits, labels, mask)

    @property
    def best_metric(self) -> str:
        """The validation metric that picks the best checkpoint when the config leaves it 'auto'."""
        raise NotImplementedError

    def probabilities(self, logits: jax.Array) -> jax.Array:
        """Per-output probabilities [..., num_outputs]."""
        raise NotImplementedError

    def to_logits(self, probabilities: jax.Array) -> jax.Array:
        """Scores that `metrics` and `probabilities` take back as logits (view-averaged
        probabilities: log for softmax heads, which keeps the argmax)."""
        return jnp.log(probabilities)

    def average_views(self, per_view: jax.Array, average_probabilities: bool) -> jax.Array:
        """Video logits from per-view logits [views, batch, outputs]: mean logits, or (config
        multicrop_softmax_logits) mean probabilities turned back into logits."""
        if average_probabilities:
            return self.to_logits(jnp.mean(self.probabilities(per_view), axis=0))
        return jnp.mean(per_view, axis=0)

    def output_names(self, names: Sequence[str] | None) -> list[str]:
        """A name per output: the dataset's class names when they fit, else indices."""
        if names and len(names) == self.num_outputs:
            return list(names)
        return [f"class_{i}" for i in range(self.num_outputs)]

    def describe(self, probabilities: np.ndarray, names: Sequence[str], top_k: int
                 ) -> tuple[list[tuple[str, float]], list[str]]:
        """(ranked (name, probability) pairs, the lines --mode=predict prints) of one video."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class OneHead(Task):
    """A task with one output per class of `dataset_configs.num_classes`."""

    num_classes: int | None = None

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "OneHead":
        return cls(label_smoothing=smoothing(config),
                   num_classes=config.dataset_configs.get("num_classes"))

    @property
    def num_outputs(self) -> int:
        return checked_num_classes(self.num_classes)
