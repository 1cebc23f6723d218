"""Throughput of the input pipeline on this machine: clips/s and frames/s.

    python benchmarks/data_pipeline.py [--batches=4 --batch_size=8 --threads=2]

Writes a few DMVR-layout TFRecord videos (JPEG frames, 256x340, like a prepared Kinetics shard)
to a temporary folder, then times (1) the training pipeline: random 32-frame clip at stride 2,
scale jitter, random crop 224, flip, RandAugment(2, 15) and random erasing; (2) the test pipeline:
4 clips x 3 spatial crops of 32 frames. JPEG decoding is included in both.
"""

from __future__ import annotations

import io
import itertools
import os
import tempfile
import time

import numpy as np
from absl import app, flags
from PIL import Image

from vivit.config import default_config
from vivit.data import get_dataset


def write_videos(directory: str, num_videos: int, num_frames: int) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(os.path.join(directory, "bench.tfrecord")) as writer:
        for index in range(num_videos):
            base = rng.integers(0, 256, (256, 340, 3)).astype(np.uint8)
            example = tf.train.SequenceExample()
            example.context.feature["clip/label/index"].int64_list.value.append(index % 10)
            frames = example.feature_lists.feature_list["image/encoded"]
            for t in range(num_frames):
                buffer = io.BytesIO()
                Image.fromarray(np.roll(base, 3 * t, axis=1)).save(buffer, "JPEG", quality=90)
                frames.feature.add().bytes_list.value.append(buffer.getvalue())
            writer.write(example.SerializeToString())


def config_for(directory: str, batch_size: int, threads: int):
    config = default_config()
    config.dataset_name = "video_tfrecord_dataset"
    config.batch_size = batch_size
    dc = config.dataset_configs
    dc.base_dir, dc.num_classes, dc.num_parallel_reads = directory, 10, threads
    dc.tables.train = dc.tables.test = "bench.tfrecord"
    dc.num_frames, dc.stride, dc.min_resize, dc.crop_size = 32, 2, 256, 224
    aug = dc.augmentation_params
    aug.do_jitter_scale = aug.do_rand_augment = True
    aug.rand_augment_num_layers, aug.rand_augment_magnitude = 2, 15
    aug.random_erasing_prob = 0.25
    dc.num_test_clips, dc.do_three_spatial_crops = 4, True
    return config


def time_batches(batches, count: int, clips_per_example: int) -> tuple[float, float]:
    next(batches)  # warm-up
    start = time.perf_counter()
    clips = 0
    for batch in itertools.islice(batches, count):
        clips += int(batch["batch_mask"].sum()) * clips_per_example
    seconds = time.perf_counter() - start
    return clips / seconds, clips * 32 / seconds


_BATCHES = flags.DEFINE_integer("batches", 4, "Batches timed per split.")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 8, "Clips per batch.")
_THREADS = flags.DEFINE_integer("threads", 2, "Reader threads (dataset_configs.num_parallel_reads).")


def main(argv: list[str]) -> None:
    del argv
    args = flags.FLAGS
    with tempfile.TemporaryDirectory() as directory:
        num_videos = (args.batches + 1) * args.batch_size
        write_videos(directory, num_videos, num_frames=80)
        config = config_for(directory, args.batch_size, args.threads)
        train = get_dataset(config, "train", process_index=0, process_count=1)
        clips_s, frames_s = time_batches(train.batches(), args.batches, 1)
        print(f"train (32x224, all augmentations): {clips_s:.2f} clips/s, {frames_s:.1f} frames/s")
        test = get_dataset(config, "test", process_index=0, process_count=1)
        clips_s, frames_s = time_batches(test.batches(), args.batches, test.meta.views)
        print(f"test (4 clips x 3 crops, 32x224): {clips_s:.2f} clips/s, {frames_s:.1f} frames/s "
              f"({clips_s / test.meta.views:.2f} videos/s)")
        print(f"threads={args.threads}, cores={os.cpu_count()}, batch_size={args.batch_size}")


if __name__ == "__main__":
    app.run(main)
