"""Tests set up a run from a config as the trainer does: the task is built once from the config
and handed to the model builder and the data pipeline."""

from __future__ import annotations

import ml_collections

from vivit import data, models
from vivit.tasks import task_for_config


def model_of(config: ml_collections.ConfigDict):
    """`build_model` with the config's own task."""
    return models.build_model(config, task_for_config(config))


def dataset_of(config: ml_collections.ConfigDict, split: str, **kwargs) -> data.VideoDataset:
    """`get_dataset` with the config's own task."""
    return data.get_dataset(config, split, task_for_config(config), **kwargs)
