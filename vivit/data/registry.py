"""The data sources (`dataset_name`): one registry entry per source, synthetic included.

Every source opens a split the same way: `open_split(config, task, split, share_index,
share_count)` returns this process's share (examples share_index, share_index + share_count,
...) as a `VideoSource`, and the number of examples in the whole split. `vivit.data.get_dataset`
does the rest (batching, sampling, augmentation, sharding over processes) for every source alike,
so a new source is one new module that calls `register_dataset` (see docs/architecture.md).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import ml_collections
import numpy as np

from vivit.data.prepared import manifest_sha256
from vivit.data.source import VideoSource
from vivit.registry import Registry
from vivit.tasks import Task

OpenSplit = Callable[[ml_collections.ConfigDict, Task, str, int, int], tuple[VideoSource, int]]


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One value of `dataset_name`.

    open_split: (config, task, split, share_index, share_count) -> (this share's source, examples
      in the split). The task (`vivit.tasks`) says what a record's label must hold.
    per_head_labels: whether its records carry one label per head (multi-head models).
    locate: config -> {'location': where the data is, 'manifest_sha256': the prepared data's
      fingerprint}, for a run's record (None values when the source has neither).
    """

    open_split: OpenSplit
    per_head_labels: bool = False
    locate: Callable[[ml_collections.ConfigDict], dict] = lambda config: {
        "location": None, "manifest_sha256": None}


DATASETS: Registry[Dataset] = Registry(
    "Dataset", "Unknown dataset_name {name!r}; expected one of {known}.")
register_dataset = DATASETS.register  # Makes a name a valid `dataset_name`.
get_dataset_type = DATASETS.lookup


def _open_synthetic(config: ml_collections.ConfigDict, task: Task, split: str, share_index: int,
                    share_count: int) -> tuple[VideoSource, int]:
    from vivit.data.synthetic import SyntheticMotionSource

    dc = config.dataset_configs
    source = SyntheticMotionSource(
        split=split,
        num_examples=int(dc.synthetic[f"num_{split}_examples"]),
        num_classes=task.num_outputs,
        labels=task.label_layout,
        objects_per_video=int(dc.synthetic.objects_per_video),
        video_frames=int(dc.synthetic.video_frames),
        resolution=int(dc.synthetic.resolution),
        seed=int(dc.synthetic.seed),
    )
    num_examples = len(source)
    return source.shard(np.arange(share_index, num_examples, share_count)), num_examples


def _open_tfrecords(config: ml_collections.ConfigDict, task: Task, split: str, share_index: int,
                    share_count: int) -> tuple[VideoSource, int]:
    from vivit.data.tfrecord_source import open_dmvr_split  # Imports TensorFlow: only when used.

    return open_dmvr_split(config, task, split, share_index, share_count)


def _open_tfds(config: ml_collections.ConfigDict, task: Task, split: str, share_index: int,
               share_count: int) -> tuple[VideoSource, int]:
    from vivit.data.tfds_source import open_tfds_split  # Imports TFDS: only when used.

    return open_tfds_split(config, split, share_index, share_count)


def _locate_tfrecords(config: ml_collections.ConfigDict) -> dict:
    base_dir = config.dataset_configs.base_dir
    return {"location": base_dir, "manifest_sha256": manifest_sha256(base_dir)}


def _locate_tfds(config: ml_collections.ConfigDict) -> dict:
    settings = config.dataset_configs.tfds
    return {"location": f"{settings.name} (data_dir={settings.data_dir})",
            "manifest_sha256": None}


register_dataset("synthetic_motion", Dataset(open_split=_open_synthetic, per_head_labels=True))
register_dataset("video_tfrecord_dataset", Dataset(
    open_split=_open_tfrecords, per_head_labels=True, locate=_locate_tfrecords))
register_dataset("tfds", Dataset(open_split=_open_tfds, locate=_locate_tfds))
