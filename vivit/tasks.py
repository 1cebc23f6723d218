"""What a `model_name` means: one `Task` per head type, and `TASKS`, the registry of them.

A task owns everything that depends on what the labels are: the model's output width, the label
layout the data pipeline must produce, float targets for mixup, the loss (with label smoothing),
the metrics (per batch in training; over the whole split in evaluation), the default
best-checkpoint metric, how test views are averaged, and how a prediction is scored and printed.
The trainer, the train and eval steps, the model builder and the data pipeline ask the task for
these; nothing else compares `model_name` strings. A new task is one class and one `TASKS` entry.

- `vivit_classification` (`SingleLabel`): one class per video; softmax cross-entropy; loss,
  accuracy, accuracy_top_5.
- `vivit_multihead_classification` (`MultiHead`): one class per head (Epic Kitchens' verb and
  noun); mean of the heads' cross-entropies; per-head metrics and the joint accuracy
  ('verb-noun_accuracy', Scenic's name) over the outer product of the heads' softmaxes.
- `vivit_multilabel_classification` (`MultiLabel`): any number of classes per video (multi-hot);
  sigmoid cross-entropy summed over classes; prec@1 per batch, mAP and per-class AP over a split.
- `cvt_classification` (`ImageClassification`): CvT over images [batch, height, width, 3], one
  class per image, with SingleLabel's loss and metrics. Its `inputs` are images, which no dataset
  here provides, so the data pipeline refuses to train it.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vivit.train import losses
from vivit.train import metrics as metrics_lib

# What a source must put in `VideoRecord.label` for a task.
INDEX, PER_HEAD, MULTI_HOT = "index", "per_head", "multi_hot"
# What the task's model takes: video clips [batch, time, height, width, 3] or images.
VIDEO, IMAGE = "video", "image"
# --mode=predict: multi-label classes at or above this probability are printed.
MULTILABEL_THRESHOLD = 0.5


def _smoothing(config: ml_collections.ConfigDict) -> float | None:
    value = config.get("label_smoothing")
    if value is not None and not 0.0 <= float(value) < 1.0:
        raise ValueError(f"label_smoothing must be None or in [0, 1), got {value}.")
    return float(value) if value else None


def _checked_num_classes(value: int | None) -> int:
    """dataset_configs.num_classes, checked where an output width is needed (the metrics and
    losses of single- and multi-label tasks work on any width)."""
    if value is None or isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(
            f"dataset_configs.num_classes must be a positive integer, got {value!r}.")
    return int(value)


def _ranked(scores: np.ndarray, names: Sequence[str], count: int) -> list[tuple[str, float]]:
    order = np.argsort(-scores, kind="stable")[:count]
    return [(names[i], float(scores[i])) for i in order]


def _rank_lines(ranked: Sequence[tuple[str, float]], indent: str = "  ") -> list[str]:
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
                mask: jax.Array | None = None) -> metrics_lib.Metrics:
        """Per-batch metrics (training), clu metrics that merge over batches."""
        raise NotImplementedError

    def eval_metrics(self, logits: jax.Array, labels: jax.Array,
                     mask: jax.Array | None = None) -> metrics_lib.Metrics:
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
class _OneHead(Task):
    """A task with one output per class of `dataset_configs.num_classes`."""

    num_classes: int | None = None

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "_OneHead":
        return cls(label_smoothing=_smoothing(config),
                   num_classes=config.dataset_configs.get("num_classes"))

    @property
    def num_outputs(self) -> int:
        return _checked_num_classes(self.num_classes)


@dataclasses.dataclass(frozen=True)
class SingleLabel(_OneHead):
    model_name: ClassVar[str] = "vivit_classification"
    label_layout: ClassVar[str] = INDEX

    def targets(self, labels: jax.Array) -> jax.Array:
        return losses.to_soft_targets(labels, self.num_outputs)

    def loss(self, logits, labels, weights=None):
        return losses.softmax_cross_entropy(logits, labels, weights, self.label_smoothing)

    def metrics(self, logits, labels, mask=None):
        return metrics_lib.classification_metrics(logits, labels, mask)

    @property
    def best_metric(self) -> str:
        return "accuracy"

    def probabilities(self, logits):
        return jax.nn.softmax(logits.astype(jnp.float32), axis=-1)

    def describe(self, probabilities, names, top_k):
        ranked = _ranked(probabilities, names, top_k)
        return ranked, _rank_lines(ranked)


@dataclasses.dataclass(frozen=True)
class MultiHead(Task):
    class_splits: tuple[int, ...] = ()
    head_names: tuple[str, ...] = ()

    model_name: ClassVar[str] = "vivit_multihead_classification"
    label_layout: ClassVar[str] = PER_HEAD

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "MultiHead":
        data = config.dataset_configs
        if not data.get("class_splits"):
            raise ValueError(
                "model_name='vivit_multihead_classification' needs dataset_configs.class_splits "
                "(classes per head, e.g. [97, 300] for Epic Kitchens verb/noun).")
        splits = tuple(data.class_splits)
        if not all(isinstance(n, int) and n > 0 for n in splits):
            raise ValueError(f"dataset_configs.class_splits={splits} must be positive integers.")
        names = data.get("split_names")
        if names is not None and len(names) != len(splits):
            raise ValueError(
                f"dataset_configs.split_names has {len(names)} names for {len(splits)} "
                "class_splits.")
        return cls(label_smoothing=_smoothing(config), class_splits=splits,
                   head_names=tuple(metrics_lib.head_names(splits, names)))

    @property
    def num_outputs(self) -> int:
        return int(sum(self.class_splits))

    @property
    def joint_name(self) -> str:
        """Scenic's name of the joint (action) prediction: the head names joined by '-'."""
        return "-".join(self.head_names)

    def targets(self, labels):
        return losses.soft_targets(labels, self.num_outputs, self.class_splits)

    def loss(self, logits, labels, weights=None):
        return losses.multihead_softmax_cross_entropy(
            logits, labels, self.class_splits, weights, self.label_smoothing)

    def metrics(self, logits, labels, mask=None):
        return metrics_lib.multihead_metrics(logits, labels, mask, self.class_splits,
                                             self.head_names)

    @property
    def best_metric(self) -> str:
        return f"{self.joint_name}_accuracy"

    def probabilities(self, logits):
        heads = losses.split_heads(logits.astype(jnp.float32), self.class_splits)
        return jnp.concatenate([jax.nn.softmax(h, axis=-1) for h in heads], axis=-1)

    def output_names(self, names):
        if names and len(names) == self.num_outputs:
            return list(names)
        return [f"{head}_{i}" for head, count in zip(self.head_names, self.class_splits)
                for i in range(count)]

    def describe(self, probabilities, names, top_k):
        lines, ranked_all, start = [], [], 0
        for head, count in zip(self.head_names, self.class_splits):
            ranked = _ranked(probabilities[start:start + count], names[start:start + count],
                             min(top_k, count))
            lines.append(f"  {head}:")
            lines.extend(_rank_lines(ranked, indent="    "))
            ranked_all.extend(ranked)
            start += count
        return ranked_all, lines


@dataclasses.dataclass(frozen=True)
class MultiLabel(_OneHead):
    model_name: ClassVar[str] = "vivit_multilabel_classification"
    label_layout: ClassVar[str] = MULTI_HOT

    def targets(self, labels):
        return labels.astype(jnp.float32)

    def loss(self, logits, labels, weights=None):
        return losses.sigmoid_cross_entropy(logits, labels, weights, self.label_smoothing)

    def metrics(self, logits, labels, mask=None):
        return metrics_lib.multilabel_metrics(logits, labels, mask)

    def eval_metrics(self, logits, labels, mask=None):
        result = dict(self.metrics(logits, labels, mask))
        result.update(metrics_lib.average_precision(logits, labels, mask))
        return result

    @property
    def best_metric(self) -> str:
        return "mAP"

    def probabilities(self, logits):
        return jax.nn.sigmoid(logits.astype(jnp.float32))

    def to_logits(self, probabilities):
        return jax.scipy.special.logit(jnp.clip(probabilities, 1e-7, 1 - 1e-7))

    def describe(self, probabilities, names, top_k):
        above = int(np.sum(probabilities >= MULTILABEL_THRESHOLD))
        ranked = _ranked(probabilities, names, above or top_k)
        lines = _rank_lines(ranked)
        if not above:
            lines.insert(0, f"  (no class at or above {MULTILABEL_THRESHOLD}; top {len(ranked)})")
        return ranked, lines


@dataclasses.dataclass(frozen=True)
class ImageClassification(SingleLabel):
    """CvT as an image classifier (`model.variant`): single-label, on images."""

    model_name: ClassVar[str] = "cvt_classification"
    inputs: ClassVar[str] = IMAGE


TASKS: dict[str, type[Task]] = {
    task.model_name: task for task in (SingleLabel, MultiHead, MultiLabel, ImageClassification)
}


def task_for_config(config: ml_collections.ConfigDict) -> Task:
    """The `Task` of `config.model_name`, built from the config's keys."""
    name = config.get("model_name")
    if name not in TASKS:
        raise ValueError(f"model_name={name!r} is not supported; expected one of "
                         f"{tuple(TASKS)}.")
    return TASKS[name].from_config(config)


def best_checkpoint_metric(config: ml_collections.ConfigDict) -> str | None:
    """config.best_checkpoint_metric, with 'auto' resolved to the task's metric (None: off)."""
    value = config.get("best_checkpoint_metric")
    if value == "auto":
        return task_for_config(config).best_metric
    return value

