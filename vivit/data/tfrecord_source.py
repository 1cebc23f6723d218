"""DMVR / MediaSequence TFRecords (what Scenic's `video_tfrecord_dataset` reads), random access.

The same records stored in ArrayRecord files (`*.array_record*`, as `prepare --format=array_record`
writes them) are read the same way, through ArrayRecord's own random access.

Each record is a `tf.train.SequenceExample`: JPEG frames in the feature list `image/encoded`, the
label in the context feature `clip/label/index` (int64; several values = multi-label), optional
`clip/label/string` and `clip/media_id`. Files are indexed once by reading only the record
headers (uint64 length, crc, payload, crc), so any record can be read by seeking: that is what
lets batches be a function of (seed, step, process) without a shuffle buffer.

`base_dir` may be a bucket (gs://...): the index and the records are read with large buffered
range reads with read-ahead (`vivit.storage`). ArrayRecord shards are read from a bucket by
ArrayRecord's own reader (its build reads gs:// objects through google-cloud-cpp, with the
machine's default credentials).
"""

from __future__ import annotations

import json
import re
import struct
import threading

import ml_collections
import numpy as np

from vivit import storage
from vivit.data import frame_ops
from vivit.data.prepared import LABEL_MAP
from vivit.data.source import VideoRecord
from vivit.tasks import MULTI_HOT, PER_HEAD, Task

FRAMES_KEY = "image/encoded"
LABEL_KEY = "clip/label/index"
LABEL_NAME_KEY = "clip/label/string"
MEDIA_ID_KEY = "clip/media_id"
_SHARDED = re.compile(r"^(?P<base>.+)@(?P<count>\d+)$")


def expand_table(base_dir: str, table: str, config_key: str) -> list[str]:
    """Files of one table: 'name@N' (name-0000i-of-0000N), a glob, or one file name."""
    match = _SHARDED.match(table)
    if match:
        count = int(match["count"])
        names = [f"{match['base']}-{i:05d}-of-{count:05d}" for i in range(count)]
        paths = [storage.join(base_dir, name) for name in names]
        missing = [p for p in paths if not storage.isfile(p)]
        if missing:
            raise FileNotFoundError(
                f"{config_key}={table!r}: {len(missing)} of {count} shards missing in {base_dir}, "
                f"first {missing[0]}."
            )
        return paths
    paths = storage.glob(base_dir, table)
    if not paths:
        raise FileNotFoundError(
            f"{config_key}={table!r} matches no file in {base_dir} "
            f"(pattern {storage.join(base_dir, table)})."
        )
    return paths


def index_records(path: str) -> list[tuple[int, int]]:
    """(payload offset, payload length) of every record of an uncompressed TFRecord file."""
    offsets = []
    size = storage.size(path)
    # Remote: each header read past the buffered block fetches one more large block.
    with storage.open_for_reading(path) as f:
        position = 0
        while position < size:
            header = f.read(12)
            if len(header) < 12:
                raise ValueError(f"{path}: truncated record header at byte {position}.")
            (length,) = struct.unpack("<Q", header[:8])
            if position + 12 + length + 4 > size:
                raise ValueError(
                    f"{path}: record at byte {position} claims {length} bytes past the end of "
                    "the file (truncated, or not an uncompressed TFRecord file)."
                )
            offsets.append((position + 12, length))
            position += 12 + length + 4
            f.seek(position)
    return offsets


def is_array_record(path: str) -> bool:
    return ".array_record" in storage.basename(path)


def _index_from_summary(path: str) -> list[tuple[int, int]] | None:
    """The record index `vivit.data.prepare` keeps in `<shard>.json`, when it fits the file.

    Scanning the headers of a shard in a bucket downloads most of it; the summary is one small
    read. An index that does not end where the file ends is ignored (the file was replaced).
    """
    summary_path = f"{path}.json"
    if not storage.isfile(summary_path):
        return None
    try:
        records = json.loads(storage.read_text(summary_path)).get("records")
    except (ValueError, OSError):
        return None
    if records is None:
        return None
    locations = [(int(offset), int(length)) for offset, length in records]
    end = locations[-1][0] + locations[-1][1] + 4 if locations else 0
    return locations if end == storage.size(path) else None


def record_locations(path: str, use_summary: bool = True) -> list[tuple[int, int]]:
    """(offset, length) of every record; ArrayRecord files give (-1, -1) (read by number).

    TFRecords: from the shard's `prepare` summary when it has one (use_summary), else by
    reading every record header.
    """
    if is_array_record(path):
        try:
            reader = _open_array_record(path)
            try:
                return [(-1, -1)] * reader.num_records()
            finally:
                reader.close()
        except (RuntimeError, OSError) as error:  # The reader checks the file lazily.
            raise ValueError(f"{path}: not a readable ArrayRecord file: {error}") from error
    if use_summary:
        from_summary = _index_from_summary(path)
        if from_summary is not None:
            return from_summary
    return index_records(path)


def _open_array_record(path: str):
    """ArrayRecord's reader of a local file or a gs:// object (read with google-cloud-cpp)."""
    from array_record.python import array_record_module

    return array_record_module.ArrayRecordReader(path)


_READERS: dict[str, object] = {}
_READERS_LOCK = threading.Lock()


def read_record(path: str, number: int, offset: int, length: int) -> bytes:
    """Bytes of one record, by offset (TFRecord) or by record number (ArrayRecord)."""
    if not is_array_record(path):
        return storage.read_range(path, offset, length)
    with _READERS_LOCK:
        if path not in _READERS:
            _READERS[path] = _open_array_record(path)
        return _READERS[path].read([number])[0]


def _parse(payload: bytes):
    from tensorflow.core.example import example_pb2

    return example_pb2.SequenceExample.FromString(payload)


class DMVRSource:
    """Records of a list of TFRecord files, each (file, offset) one video."""

    def __init__(
        self,
        records: list[tuple[str, int, int, int]],
        *,
        num_classes: int,
        label_offset: int,
        multi_label: bool,
        label_names: list[str] | None = None,
        class_splits: tuple[int, ...] | None = None,
    ):
        # (path, record number in file, payload offset, payload length)
        self._records = records
        self._num_classes = num_classes
        self._label_offset = label_offset
        self._multi_label = multi_label
        # Multi-head models: classes per head; the label holds one index per head, in order.
        self._class_splits = class_splits
        self.label_names = label_names

    def __len__(self) -> int:
        return len(self._records)

    def shard(self, positions: np.ndarray) -> "DMVRSource":
        return DMVRSource(
            [self._records[int(p)] for p in positions],
            num_classes=self._num_classes,
            label_offset=self._label_offset,
            multi_label=self._multi_label,
            label_names=self.label_names,
            class_splits=self._class_splits,
        )

    def _label(self, values: list[int], where: str) -> int | np.ndarray:
        if not values:
            raise ValueError(f"{where}: context feature '{LABEL_KEY}' is missing or empty.")
        labels = [v - self._label_offset for v in values]
        if self._class_splits is not None:
            return self._head_labels(labels, where)
        bad = [v for v in labels if not 0 <= v < self._num_classes]
        if bad:
            raise ValueError(
                f"{where}: '{LABEL_KEY}' = {bad[0] + self._label_offset} (minus label_offset "
                f"{self._label_offset}) is outside dataset_configs.num_classes="
                f"{self._num_classes}."
            )
        if self._multi_label:
            multi_hot = np.zeros(self._num_classes, np.float32)
            multi_hot[labels] = 1.0
            return multi_hot
        if len(labels) > 1:
            raise ValueError(
                f"{where}: '{LABEL_KEY}' has {len(labels)} values; only multi-label models "
                "(model_name='vivit_multilabel_classification') take several."
            )
        return labels[0]

    def _head_labels(self, labels: list[int], where: str) -> np.ndarray:
        """One class index per head (e.g. [noun, verb] for Epic Kitchens), checked per head."""
        splits = self._class_splits
        if len(labels) != len(splits):
            raise ValueError(
                f"{where}: '{LABEL_KEY}' has {len(labels)} values; a multi-head model with "
                f"dataset_configs.class_splits={list(splits)} needs one per head, in that order.")
        for head, (label, classes) in enumerate(zip(labels, splits)):
            if not 0 <= label < classes:
                raise ValueError(
                    f"{where}: '{LABEL_KEY}' value {head} = {label + self._label_offset} (minus "
                    f"label_offset {self._label_offset}) is outside head {head}'s {classes} "
                    "classes (dataset_configs.class_splits).")
        return np.asarray(labels, np.int32)

    def __getitem__(self, position: int) -> VideoRecord:
        path, number, offset, length = self._records[position]
        where = f"{path} (record {number})"
        example = _parse(read_record(path, number, offset, length))
        feature_lists = example.feature_lists.feature_list
        if FRAMES_KEY not in feature_lists or not feature_lists[FRAMES_KEY].feature:
            raise ValueError(
                f"{where}: no feature list '{FRAMES_KEY}' (JPEG frames, one bytes value per "
                f"frame); found feature lists {sorted(feature_lists)}."
            )
        frames = [feature.bytes_list.value[0] for feature in feature_lists[FRAMES_KEY].feature]
        context = example.context.feature
        label = self._label(list(context[LABEL_KEY].int64_list.value) if LABEL_KEY in context
                            else [], where)
        key = (context[MEDIA_ID_KEY].bytes_list.value[0].decode()
               if MEDIA_ID_KEY in context else f"{storage.basename(path)}:{number}")

        def read_frames(indices) -> np.ndarray:
            return _decode_frames([frames[int(i)] for i in indices], where)

        def read_frames_reduced(indices, shorter_side: int) -> np.ndarray:
            size = frame_ops.image_size(frames[int(indices[0])])
            reduction = 1 if size is None else frame_ops.reduction_for(*size, shorter_side)
            return _decode_frames([frames[int(i)] for i in indices], where, reduction)

        return VideoRecord(num_frames=len(frames), label=label, key=key, read_frames=read_frames,
                           read_frames_reduced=read_frames_reduced)


def _decode_frames(encoded: list[bytes], where: str, reduction: int = 1) -> np.ndarray:
    """uint8 [frames, height, width, 3] (sizes / `reduction`, JPEG DCT scaling), each frame
    decoded by OpenCV and copied into its row."""
    first = _decode_image(encoded[0], where, reduction)
    out = np.empty((len(encoded),) + first.shape, np.uint8)
    out[0] = first
    for row, data in enumerate(encoded[1:], start=1):
        frame = _decode_image(data, where, reduction)
        if frame.shape != first.shape:
            raise ValueError(f"{where}: frames of '{FRAMES_KEY}' differ in size: "
                             f"{first.shape[:2]} and {frame.shape[:2]}.")
        out[row] = frame
    return out


def _decode_image(data: bytes, where: str, reduction: int) -> np.ndarray:
    frame = frame_ops.decode(data, reduction)
    if frame is None:
        raise ValueError(f"{where}: a frame of '{FRAMES_KEY}' is not a decodable image.")
    return frame


def open_dmvr_split(
    config: ml_collections.ConfigDict, task: Task, split: str, process_index: int,
    process_count: int,
) -> tuple[DMVRSource, int]:
    """Records p, p + P, p + 2P, ... of a split, and the split's total number of examples.

    Every P-th record keeps the shares equal to one, so all processes run the same number of
    evaluation batches. (Training opens the whole split with P = 1; see VideoDataset.)
    """
    dc = config.dataset_configs
    if not dc.base_dir:
        raise ValueError("dataset_configs.base_dir must be set for video_tfrecord_dataset.")
    if not storage.isdir(dc.base_dir):
        raise FileNotFoundError(f"dataset_configs.base_dir={dc.base_dir!r} is not a directory.")
    table = dc.tables.get(split)
    if not table:
        raise ValueError(f"dataset_configs.tables.{split} must be set for video_tfrecord_dataset.")
    multi_head = task.label_layout == PER_HEAD
    num_outputs = task.num_outputs  # Names the missing num_classes / class_splits key.
    paths = expand_table(dc.base_dir, table, f"dataset_configs.tables.{split}")
    per_file = {path: record_locations(path) for path in paths}
    num_examples = sum(len(v) for v in per_file.values())

    def records_of(files):
        return [(p, n, off, length) for p in files for n, (off, length) in enumerate(per_file[p])]

    records = records_of(paths)[process_index::process_count]
    label_names = _read_label_map(dc.base_dir)
    source = DMVRSource(
        records,
        num_classes=num_outputs,
        label_offset=int(dc.label_offset),
        multi_label=task.label_layout == MULTI_HOT,
        label_names=label_names,
        class_splits=task.class_splits if multi_head else None,
    )
    return source, num_examples


def _read_label_map(base_dir: str) -> list[str] | None:
    """Class names from `label_map.txt` (one per line, line i = class i) when the dir has one."""
    path = storage.join(base_dir, LABEL_MAP)
    if not storage.isfile(path):
        return None
    return [line for line in storage.read_text(path).split("\n") if line.strip()]
