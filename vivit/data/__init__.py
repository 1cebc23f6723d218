"""The video input pipeline: `get_dataset(config, split, task)` -> per-process batches.

Sources (`dataset_name`, registered in `vivit.data.registry`): `synthetic_motion` (generated
locally), `video_tfrecord_dataset` (DMVR / MediaSequence TFRecords, as Scenic reads them) and
`tfds` (TFDS video datasets prepared as ArrayRecord). Mixup, which runs on device in the train
step, lives in `vivit.train.mixup`. What a record's label holds is the task's
(`vivit.tasks`), which the caller builds once and passes in.
"""

from __future__ import annotations

import logging
import math

import ml_collections

from vivit.data import preprocess
from vivit.data.dataset import DatasetMeta, VideoDataset
from vivit.data.registry import DATASETS, Dataset, get_dataset_type, register_dataset
from vivit.tasks import PER_HEAD, VIDEO, Task

SPLITS = ("train", "validation", "test")

__all__ = ["get_dataset", "batch_size_of_split", "data_record", "VideoDataset", "DatasetMeta", "SPLITS",
           "DATASETS", "Dataset", "register_dataset"]


def _num_classes(config: ml_collections.ConfigDict, task: Task) -> int:
    """Output width, as the run's task defines it; checks the source gives its labels."""
    if task.inputs != VIDEO:
        raise ValueError(
            f"model_name={task.model_name!r} takes images, but every dataset here gives video "
            f"clips (dataset_name={config.dataset_name!r}); to train CvT on video, use a "
            "factorized encoder with model.spatial_transformer.backbone='cvt-13' (etc.).")
    if task.label_layout == PER_HEAD and not get_dataset_type(
            config.dataset_name).per_head_labels:
        readers = tuple(n for n, d in DATASETS.items() if d.per_head_labels)
        raise ValueError(
            f"model_name={task.model_name!r} needs per-head labels, which only "
            f"dataset_name={' or '.join(map(repr, readers))} reads; got {config.dataset_name!r}.")
    return task.num_outputs


def batch_size_of_split(config: ml_collections.ConfigDict, split: str) -> int:
    """Global batch of `split`: batch_size for train, eval_batch_size (default batch_size) for
    validation, dataset_configs.test_batch_size (default: the validation batch) for test."""
    size = config.batch_size
    if split != "train" and config.get("eval_batch_size"):
        size = config.eval_batch_size
    if split == "test" and config.dataset_configs.get("test_batch_size"):
        size = config.dataset_configs.test_batch_size
    return int(size)


def get_dataset(
    config: ml_collections.ConfigDict,
    split: str,
    task: Task,
    *,
    process_index: int | None = None,
    process_count: int | None = None,
) -> VideoDataset:
    """The `split` of `config.dataset_name`, as this process's share of every global batch.

    `task` (`vivit.tasks.task_for_config(config)`, built once by the caller) says what the
    labels hold.
    process_index / process_count default to jax.process_index() / jax.process_count().
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if process_index is None or process_count is None:
        import jax

        process_index = jax.process_index() if process_index is None else process_index
        process_count = jax.process_count() if process_count is None else process_count
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index {process_index} not in [0, {process_count}).")

    global_batch = batch_size_of_split(config, split)
    if global_batch % process_count:
        raise ValueError(
            f"Batch size {global_batch} is not divisible by process_count {process_count}."
        )
    batch_size = global_batch // process_count

    settings = preprocess.ClipSettings.from_config(config.dataset_configs)
    num_classes = _num_classes(config, task)
    name = config.dataset_name
    # Training: every process opens the whole split and takes its own slots of one global order
    # (see VideoDataset), so the global batch does not depend on the number of processes.
    # Evaluation: process p holds examples p, p + P, p + 2P, ...
    share_index, share_count = (0, 1) if split == "train" else (process_index, process_count)
    source, num_examples = get_dataset_type(name).open_split(config, task, split, share_index,
                                                             share_count)
    expected = config.dataset_configs.examples_per_subset.get(split)
    if expected is not None and int(expected) != num_examples:
        logging.warning(
            "dataset_configs.examples_per_subset.%s is %s but %s split %r holds %d examples; "
            "using %d.", split, expected, name, split, num_examples, num_examples,
        )
    if len(source) == 0:
        raise ValueError(f"Split {split!r} of {name} has no examples for process {process_index}.")

    num_batches = None
    if split != "train":
        # Every process runs the same number of batches: the largest share, padded.
        num_batches = math.ceil(math.ceil(num_examples / process_count) / batch_size)
    meta = DatasetMeta(
        num_classes=num_classes,
        num_examples=num_examples,
        num_local_examples=len(source),
        label_names=source.label_names,
        clip_shape=settings.input_shape("video"),
        views=settings.views if split == "test" else 1,
        batch_size=batch_size,
    )
    return VideoDataset(
        source=source,
        split=split,
        settings=settings,
        meta=meta,
        seed=int(config.rng_seed),
        process_index=process_index,
        process_count=process_count,
        num_batches=num_batches,
        keep_key=bool(config.dataset_configs.keep_key),
        num_threads=int(config.dataset_configs.num_parallel_reads),
    )


def data_record(config: ml_collections.ConfigDict, split_sizes: dict[str, int]) -> dict:
    """What a run trains on, for its workdir's record: the source, where its data is, the size
    of each split and, for data written by `vivit.data.prepare`, its manifest's SHA-256."""
    return {"dataset_name": config.dataset_name, "split_sizes": dict(split_sizes),
            **get_dataset_type(config.dataset_name).locate(config)}
