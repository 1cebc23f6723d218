"""`VideoDataset`: per-process batches over a random-access source.

Training reads one endless global stream made of per-epoch permutations of the whole split, each
seeded by (rng_seed, epoch). Global batch `step` is positions `step*B .. step*B+B-1` of it
(B = global batch); process `p` of `P` takes slots `p*b .. p*b+b-1` (b = B / P), and the example
in global slot `s` is augmented with the rng seeded by (rng_seed, step, s). So the global batch is
a pure function of (seed, step), the same for any number of processes, and resuming at step k
(even on another number of hosts) costs nothing.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
from typing import Iterator

import numpy as np

from vivit.data import preprocess
from vivit.data.source import VideoRecord, VideoSource


@dataclasses.dataclass(frozen=True)
class DatasetMeta:
    num_classes: int
    # Examples of the whole split (all processes).
    num_examples: int
    # Examples this process can read: the whole split in training (processes take disjoint
    # slots of one global order), its every-P-th share in evaluation.
    num_local_examples: int
    label_names: list[str] | None
    # [T, H, W, 3] of one clip; test batches add a views axis before it.
    clip_shape: tuple[int, int, int, int]
    views: int
    batch_size: int


class VideoDataset:
    """Batches of one split for one process (see module docstring for the order)."""

    def __init__(
        self,
        *,
        source: VideoSource,
        split: str,
        settings: preprocess.ClipSettings,
        meta: DatasetMeta,
        seed: int,
        process_index: int,
        process_count: int,
        num_batches: int | None,
        keep_key: bool,
        num_threads: int,
    ):
        self.source = source
        self.split = split
        self.settings = settings
        self.meta = meta
        self._seed = seed
        self._process_index = process_index
        self._process_count = process_count
        # Eval: batches in one pass (the same on every process, so collectives line up).
        self.num_batches = num_batches
        self._keep_key = keep_key
        self._num_threads = max(1, num_threads)

    # --- which examples ---
    def train_slots(self) -> np.ndarray:
        """This process's slots in every global training batch."""
        size = self.meta.batch_size
        return np.arange(self._process_index * size, (self._process_index + 1) * size)

    def train_positions(self, step: int) -> np.ndarray:
        """Positions in the (whole-split) source of this process's examples of batch `step`."""
        global_size, total = self.meta.batch_size * self._process_count, len(self.source)
        stream = step * global_size + self.train_slots()
        epochs, offsets = np.divmod(stream, total)
        positions = np.empty(len(stream), np.int64)
        for epoch in np.unique(epochs):
            permutation = np.random.default_rng([self._seed, int(epoch)]).permutation(total)
            chosen = epochs == epoch
            positions[chosen] = permutation[offsets[chosen]]
        return positions

    # --- one example ---
    def _example(self, position: int, step: int, slot: int) -> tuple[np.ndarray, VideoRecord]:
        record = self.source[position]
        if self.split == "train":
            rng = np.random.default_rng([self._seed, step, slot])
            return preprocess.train_clip(record, self.settings, rng), record
        if self.split == "validation":
            return preprocess.validation_clip(record, self.settings), record
        return preprocess.test_views(record, self.settings), record

    def _example_into(self, inputs: np.ndarray, row: int, position: int, step: int, slot: int
                      ) -> VideoRecord:
        # Each worker writes its clip into the batch: no stacking copy on the consumer's thread.
        inputs[row], record = self._example(position, step, slot)
        return record

    def _submit(self, pool, positions: np.ndarray, step: int, slots: np.ndarray) -> tuple:
        views = (self.meta.views,) if self.split == "test" else ()
        # [batch, (views,) T, H, W, 3] uint8 pixels; the device converts them (vivit.train.pixels).
        inputs = np.empty((len(positions),) + views + self.meta.clip_shape, np.uint8)
        return inputs, [pool.submit(self._example_into, inputs, row, int(p), step, int(slot))
                        for row, (slot, p) in enumerate(zip(slots, positions))]

    def _collect(self, submitted: tuple, valid: int) -> dict[str, np.ndarray]:
        inputs, futures = submitted
        records = [f.result() for f in futures]
        labels = np.stack([np.asarray(record.label) for record in records])
        mask = np.zeros(len(records), np.float32)
        mask[:valid] = 1.0
        # int32 class indices, or float32 multi-hot rows for multi-label data.
        labels = labels.astype(np.int32 if labels.dtype.kind in "iu" else np.float32)
        batch = {"inputs": inputs, "label": labels, "batch_mask": mask}
        if self._keep_key:
            batch["key"] = np.asarray([record.key for record in records])
        return batch

    def _eval_positions(self, index: int) -> tuple[np.ndarray, int]:
        size, local = self.meta.batch_size, len(self.source)
        valid = int(np.clip(local - index * size, 0, size))
        # Padding repeats a real example (masked out), so shapes stay fixed.
        positions = np.minimum(np.arange(index * size, (index + 1) * size), local - 1)
        return positions, valid

    def batches(self, start_step: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """Train: endless batches from `start_step`. Eval: one padded pass (start_step ignored).

        The next batch is read on the thread pool while the caller uses the current one.
        """
        pool = concurrent.futures.ThreadPoolExecutor(self._num_threads)
        try:
            if self.split == "train":
                def submit(step):
                    return self._submit(pool, self.train_positions(step), step, self.train_slots())

                size = self.meta.batch_size
                pending = submit(start_step)
                for step in itertools.count(start_step + 1):
                    following = submit(step)
                    yield self._collect(pending, size)
                    pending = following
            else:
                queued = []
                for index in range(self.num_batches):
                    positions, valid = self._eval_positions(index)
                    queued.append((self._submit(pool, positions, 0, np.arange(len(positions))),
                                   valid))
                    if len(queued) == 2:
                        yield self._collect(*queued.pop(0))
                while queued:
                    yield self._collect(*queued.pop(0))
        finally:
            # Closing an unfinished generator (a loop that stopped, an error, interpreter exit)
            # joins no thread: at interpreter exit `threading` and `queue` are torn down, and
            # a join (or cancelling the queued reads) raises. The read-ahead batch finishes on
            # its thread and is dropped.
            pool.shutdown(wait=False)
