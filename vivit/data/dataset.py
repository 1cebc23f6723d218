"""`VideoDataset`: per-process batches over a random-access source.

Training batch `step` of process `p` holds positions `step*b .. step*b+b-1` of an endless stream
made of per-epoch permutations of the process's share, each permutation seeded by
(rng_seed, epoch, p); every example's augmentation is seeded by (rng_seed, step, p, slot). So a
batch is a pure function of (seed, step, process), and resuming at step k costs nothing.
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
    # Examples this process reads.
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
        # Eval: batches in one pass (the same on every process, so collectives line up).
        self.num_batches = num_batches
        self._keep_key = keep_key
        self._num_threads = max(1, num_threads)

    # --- which examples ---
    def train_positions(self, step: int) -> np.ndarray:
        """Positions in the local source of the examples of training batch `step`."""
        size, local = self.meta.batch_size, len(self.source)
        stream = np.arange(step * size, (step + 1) * size)
        epochs, offsets = np.divmod(stream, local)
        positions = np.empty(size, np.int64)
        for epoch in np.unique(epochs):
            order = np.random.default_rng([self._seed, int(epoch), self._process_index])
            permutation = order.permutation(local)
            chosen = epochs == epoch
            positions[chosen] = permutation[offsets[chosen]]
        return positions

    # --- one example ---
    def _example(self, position: int, step: int, slot: int) -> tuple[np.ndarray, VideoRecord]:
        record = self.source[position]
        if self.split == "train":
            rng = np.random.default_rng([self._seed, step, self._process_index, slot])
            return preprocess.train_clip(record, self.settings, rng), record
        if self.split == "validation":
            return preprocess.validation_clip(record, self.settings), record
        return preprocess.test_views(record, self.settings), record

    def _submit(self, pool, positions: np.ndarray, step: int) -> list:
        return [pool.submit(self._example, int(p), step, slot) for slot, p in enumerate(positions)]

    def _collect(self, futures: list, valid: int) -> dict[str, np.ndarray]:
        results = [f.result() for f in futures]
        inputs = np.stack([clip for clip, _ in results])
        labels = np.stack([np.asarray(record.label) for _, record in results])
        mask = np.zeros(len(results), np.float32)
        mask[:valid] = 1.0
        # int32 class indices, or float32 multi-hot rows for multi-label data.
        labels = labels.astype(np.int32 if labels.dtype.kind in "iu" else np.float32)
        batch = {"inputs": inputs, "label": labels, "batch_mask": mask}
        if self._keep_key:
            batch["key"] = np.asarray([record.key for _, record in results])
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
        with concurrent.futures.ThreadPoolExecutor(self._num_threads) as pool:
            if self.split == "train":
                def submit(step):
                    return self._submit(pool, self.train_positions(step), step)

                size = self.meta.batch_size
                pending = submit(start_step)
                for step in itertools.count(start_step + 1):
                    following = submit(step)
                    yield self._collect(pending, size)
                    pending = following
            else:
                if self.num_batches == 0:
                    return
                queued = []
                for index in range(self.num_batches):
                    positions, valid = self._eval_positions(index)
                    queued.append((self._submit(pool, positions, 0), valid))
                    if len(queued) == 2:
                        yield self._collect(*queued.pop(0))
                while queued:
                    yield self._collect(*queued.pop(0))
