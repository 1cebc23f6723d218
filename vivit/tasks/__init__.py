"""What a `model_name` means: one `Task` per head type, and `TASKS`, the registry of them.

A task owns everything that depends on what the labels are: the model's output width, the label
layout the data pipeline must produce, float targets for mixup, the loss (with label smoothing),
the metrics (per batch in training; over the whole split in evaluation), the default
best-checkpoint metric, how test views are averaged, and how a prediction is scored and printed.
The task is built once, where a run is set up (`task_for_config`: the trainer, main.py, the
tools' entry points), and handed to the data pipeline, the model builder and the steps, which ask
it; nothing else compares `model_name` strings. A new task is one module with one class and one
`register_task` call (docs/architecture.md).

Modules: `base` (the `Task` interface), `single_label`, `multi_head`, `multi_label` (the tasks),
`losses` and `metrics` (the label math they are made of).

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

import ml_collections

from vivit.registry import Registry
from vivit.tasks.base import (IMAGE, INDEX, MULTI_HOT, MULTILABEL_THRESHOLD, PER_HEAD, VIDEO,
                              Task)
from vivit.tasks.multi_head import MultiHead
from vivit.tasks.multi_label import MultiLabel
from vivit.tasks.single_label import ImageClassification, SingleLabel

__all__ = ["Task", "SingleLabel", "MultiHead", "MultiLabel", "ImageClassification", "TASKS",
           "register_task", "task_for_config", "best_checkpoint_metric", "INDEX", "PER_HEAD",
           "MULTI_HOT",
           "VIDEO", "IMAGE", "MULTILABEL_THRESHOLD"]

TASKS: Registry[type[Task]] = Registry(
    "Task", "model_name={name!r} is not supported; expected one of {known}.")


def register_task(task: type[Task]) -> type[Task]:
    """Makes `task.model_name` a valid `model_name`; returns the task class."""
    return TASKS.register(task.model_name, task)


for _task in (SingleLabel, MultiHead, MultiLabel, ImageClassification):
    register_task(_task)


def task_for_config(config: ml_collections.ConfigDict) -> Task:
    """The `Task` of `config.model_name`, built from the config's keys."""
    return TASKS.lookup(config.get("model_name")).from_config(config)


def best_checkpoint_metric(config: ml_collections.ConfigDict, task: Task) -> str | None:
    """config.best_checkpoint_metric, with 'auto' resolved to the task's metric (None: off)."""
    value = config.get("best_checkpoint_metric")
    if value == "auto":
        return task.best_metric
    return value

