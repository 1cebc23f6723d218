"""Any TFDS video dataset with a video feature and a label, read by random access.

Uses `builder.as_data_source(split)` (ArrayRecord): the dataset must have been prepared with
`file_format='array_record'`. Random access keeps batches a function of (seed, step, process);
processes take every P-th example. `dataset_configs.tfds.data_dir` is resolved like every user
path (`vivit.storage`) and may be a bucket (gs://...): TFDS reads its metadata through epath and
the ArrayRecord files through ArrayRecord's reader, which reads gs:// objects itself.
"""

from __future__ import annotations

import ml_collections
import numpy as np

from vivit import storage
from vivit.data.source import VideoRecord


class TFDSSource:
    def __init__(self, data_source, positions: np.ndarray, *, video_key: str, label_key: str,
                 num_classes: int, name: str, label_names: list[str] | None):
        self._data = data_source
        self._positions = positions
        self._video_key = video_key
        self._label_key = label_key
        self._num_classes = num_classes
        self._name = name
        self.label_names = label_names

    def __len__(self) -> int:
        return len(self._positions)

    def shard(self, positions: np.ndarray) -> "TFDSSource":
        return TFDSSource(self._data, self._positions[np.asarray(positions, np.int64)],
                          video_key=self._video_key, label_key=self._label_key,
                          num_classes=self._num_classes, name=self._name,
                          label_names=self.label_names)

    def __getitem__(self, position: int) -> VideoRecord:
        index = int(self._positions[position])
        example = self._data[index]
        where = f"TFDS {self._name}, example {index}"
        for key, config_key in ((self._video_key, "video_key"), (self._label_key, "label_key")):
            if key not in example:
                raise KeyError(f"{where}: no feature {key!r} (dataset_configs.tfds.{config_key}); "
                               f"features are {sorted(example)}.")
        frames = np.stack([np.asarray(f) for f in example[self._video_key]])  # [T, H, W, C]
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"{where}: feature {self._video_key!r} has shape {frames.shape}, "
                             "expected [time, height, width, 3].")
        label = int(example[self._label_key])
        if not 0 <= label < self._num_classes:
            raise ValueError(f"{where}: label {self._label_key!r} = {label} is outside "
                             f"dataset_configs.num_classes={self._num_classes}.")
        return VideoRecord(num_frames=len(frames), label=label, key=f"{self._name}/{index}",
                           read_frames=lambda indices: frames[np.asarray(indices)])


def open_tfds_split(
    config: ml_collections.ConfigDict, split: str, process_index: int, process_count: int
) -> tuple[TFDSSource, int]:
    """This process's share (every P-th example) of a TFDS split, and the split's size."""
    import tensorflow_datasets as tfds

    settings = config.dataset_configs.tfds
    if not settings.name:
        raise ValueError("dataset_configs.tfds.name must be set for dataset_name='tfds'.")
    if config.dataset_configs.num_classes is None:
        raise ValueError("dataset_configs.num_classes must be set for dataset_name='tfds'.")
    data_dir = settings.data_dir
    if data_dir:
        data_dir = str(storage.resolve(data_dir))
    builder = tfds.builder(settings.name, data_dir=data_dir)
    tfds_split = settings.splits[split]
    try:
        data_source = builder.as_data_source(split=tfds_split)
    except Exception as error:
        raise ValueError(
            f"TFDS {settings.name} (data_dir={settings.data_dir}), split {tfds_split!r} "
            f"(dataset_configs.tfds.splits.{split}) cannot be opened for random access; it must "
            f"be prepared with file_format='array_record': {error}"
        ) from error
    label_feature = builder.info.features[settings.label_key] if (
        settings.label_key in builder.info.features) else None
    label_names = list(getattr(label_feature, "names", None) or []) or None
    positions = np.arange(process_index, len(data_source), process_count)
    source = TFDSSource(data_source, positions, video_key=settings.video_key,
                        label_key=settings.label_key,
                        num_classes=int(config.dataset_configs.num_classes),
                        name=settings.name, label_names=label_names)
    return source, len(data_source)
