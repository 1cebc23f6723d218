"""Does this host keep an accelerator fed? Input-pipeline clips/s per core vs model consumption.

    python benchmarks/data_pipeline.py [--batches=4 --batch_size=8 --workers=1,2]

Writes DMVR-layout TFRecord videos (JPEG frames of smooth scenes with moving shapes, 256x340,
like a prepared Kinetics shard) to a temporary folder, then times, for each number of reader
workers (`dataset_configs.num_parallel_reads`):
- the K400 recipe of configs/k400_fe.py: 32 frames at stride 2, scale jitter, 224 crop, flip,
  colour augment;
- the SSv2 recipe of configs/ssv2_l_fe.py: RandAugment(2, 20), random erasing, no flip;
- the test pipeline: 4 clips x 3 crops of 32 frames (videos/s).
JPEG decoding is included. Each rate is given per wall second (and per worker) and per CPU
second of this process (user + system time of all its threads): on a machine shared with other
jobs the second is the honest per-core figure. Then it prints how many clips/s ViViT-B and -L FE
train steps consume on common accelerators (from `vivit.flops` GFLOPs), and the cores this host
needs to keep up at the K400 clips per CPU second of the first worker count.
`--video_size=64,80 --num_frames=8 --crop_size=32 --noconsumption` runs in seconds (CI).
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)  # Runs from a checkout without `pip install -e .`.

# Dense bf16 peaks (hardware FLOPs: one multiply-add is two) per chip, from the vendors' sheets.
ACCELERATOR_PEAK_TFLOPS = {"TPU v3": 123.0, "TPU v4": 275.0, "A100": 312.0, "H100 SXM": 989.0}
# Fraction of peak a well-tuned ViT training step reaches.
UTILISATION = 0.4

_BATCHES = flags.DEFINE_integer("batches", 4, "Batches timed per pipeline (after one warm-up).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 8, "Clips per batch.")
_WORKERS = flags.DEFINE_list("workers", ["1", "2"], "Reader worker counts to time.")
_VIDEO_SIZE = flags.DEFINE_list("video_size", ["256", "340"], "Stored frame height,width.")
_VIDEO_FRAMES = flags.DEFINE_integer("video_frames", 80, "Frames per stored video.")
_NUM_FRAMES = flags.DEFINE_integer("num_frames", 32, "Frames per clip.")
_CROP_SIZE = flags.DEFINE_integer("crop_size", 224, "Crop size (min_resize = video height).")
_CONSUMPTION = flags.DEFINE_bool(
    "consumption", True, "Also print the models' consumption (compiles ViViT-B and -L once).")


def video_frames(rng: np.random.Generator, num_frames: int, height: int, width: int
                 ) -> np.ndarray:
    """uint8 [num_frames, height, width, 3]: a smooth lit background with moving discs and
    boxes, so JPEG sizes and decode times are like real video (noise decodes unlike it)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    colours = rng.uniform(40, 215, (2, 3)).astype(np.float32)
    ramp = (x / width)[..., None]
    background = colours[0] * (1 - ramp) + colours[1] * ramp
    background += 12 * np.sin(y[..., None] / rng.uniform(8, 20) + x[..., None] / 31.0)
    # Fine static texture, so frames compress like camera frames rather than flat cartoons.
    background += rng.normal(0, 3, (height, width, 1)).astype(np.float32)
    shapes = [dict(centre=rng.uniform((0, 0), (height, width)),
                   velocity=rng.uniform(-4, 4, 2), radius=rng.uniform(0.08, 0.2) * height,
                   colour=rng.uniform(0, 255, 3), disc=bool(rng.random() < 0.5))
              for _ in range(3)]
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        frame = background.copy()
        for shape in shapes:
            cy, cx = shape["centre"] + t * shape["velocity"]
            if shape["disc"]:
                inside = (y - cy) ** 2 + (x - cx) ** 2 < shape["radius"] ** 2
            else:
                inside = (abs(y - cy) < shape["radius"]) & (abs(x - cx) < 0.6 * shape["radius"])
            frame[inside] = shape["colour"]
        frames[t] = np.clip(frame, 0, 255)
    return frames


def write_videos(directory: str, num_videos: int, num_frames: int, height: int, width: int
                 ) -> None:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(os.path.join(directory, "bench.tfrecord")) as writer:
        for index in range(num_videos):
            example = tf.train.SequenceExample()
            example.context.feature["clip/label/index"].int64_list.value.append(index % 10)
            feature_list = example.feature_lists.feature_list["image/encoded"]
            for frame in video_frames(rng, num_frames, height, width):
                encoded = tf.io.encode_jpeg(frame, quality=90).numpy()
                feature_list.feature.add().bytes_list.value.append(encoded)
            writer.write(example.SerializeToString())


def recipe_config(recipe: str, directory: str, workers: int, num_videos: int):
    """configs/k400_fe.py or configs/ssv2_l_fe.py, reading the benchmark's TFRecords."""
    from vivit.config import load_config

    path = {"k400": "configs/k400_fe.py", "ssv2": "configs/ssv2_l_fe.py"}[recipe]
    config = load_config(os.path.join(_ROOT, path))
    config.model_name = "vivit_classification"
    config.dataset_name = "video_tfrecord_dataset"
    config.batch_size = _BATCH_SIZE.value
    config.eval_batch_size = _BATCH_SIZE.value
    dc = config.dataset_configs
    dc.base_dir, dc.num_classes, dc.num_parallel_reads = directory, 10, workers
    dc.tables.train = dc.tables.validation = dc.tables.test = "bench.tfrecord"
    dc.label_offset, dc.test_batch_size = 0, _BATCH_SIZE.value
    dc.examples_per_subset = {"train": num_videos, "validation": num_videos, "test": num_videos}
    if recipe == "ssv2":  # The SSv2 recipe adds random erasing to the config's.
        dc.augmentation_params.random_erasing_prob = 0.25
    dc.num_frames = _NUM_FRAMES.value
    dc.min_resize, dc.crop_size = int(_VIDEO_SIZE.value[0]), _CROP_SIZE.value
    dc.num_test_clips, dc.do_three_spatial_crops = 4, True
    return config


def clips_per_second(batches, count: int) -> tuple[float, float]:
    """Examples (clips or test videos) per wall second and per CPU second of this process,
    over `count` batches after one warm-up.

    CPU seconds are user + system time of every thread of the process: on a machine shared
    with other jobs they count only the work done for these batches, so the per-CPU-second
    rate is what one dedicated core would give (when the reader threads keep the cores busy)."""
    next(batches)
    wall, cpu = time.perf_counter(), time.process_time()
    examples = sum(int(batch["batch_mask"].sum()) for batch in itertools.islice(batches, count))
    return examples / (time.perf_counter() - wall), examples / (time.process_time() - cpu)


def opencv_share(data, count: int) -> float:
    """Share of one reader's CPU time spent inside OpenCV calls, from a profile of `count`
    examples read on this thread. OpenCV releases the GIL; the rest (Python, protobuf parsing,
    some numpy) may run one thread at a time, so threads reach at least 1 / (1 - share) times one
    reader before the GIL binds (more, as numpy's copies release it too)."""
    import cProfile
    import pstats

    import cv2

    from vivit.data import preprocess

    read = {"train": lambda record, i: preprocess.train_clip(
                record, data.settings, np.random.default_rng(i)),
            "test": lambda record, i: preprocess.test_views(record, data.settings)}[data.split]
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for index in range(count):
        read(data.source[index % len(data.source)], index)
    profile.disable()
    stats = pstats.Stats(profile).stats  # {(file, line, name): (calls, calls, own time, ...)}
    # OpenCV's functions are built-ins listed by their bare name, e.g. '<imdecode>'.
    in_opencv = sum(row[2] for (path, _, name), row in stats.items()
                    if path == "~" and name[1:-1] in vars(cv2))
    return in_opencv / sum(row[2] for row in stats.values())


def model_consumption() -> list[tuple[str, float, dict[str, float]]]:
    """(model, forward GFLOPs per clip, {accelerator: training clips/s}) for ViViT-B and -L FE.

    A train step costs about 3 forward passes; vivit.flops counts a multiply-add as one FLOP,
    accelerator peaks count it as two."""
    from vivit.config import load_config
    from vivit.flops import count

    rows = []
    for name, path in (("ViViT-B/16x2 FE", "configs/k400_fe.py"),
                       ("ViViT-L/16x2 FE", "configs/k400_l_fe.py")):
        gflops = count(load_config(os.path.join(_ROOT, path))).gflops
        step_flops = 3 * 2 * gflops * 1e9
        rows.append((name, gflops, {chip: peak * 1e12 * UTILISATION / step_flops
                                    for chip, peak in ACCELERATOR_PEAK_TFLOPS.items()}))
    return rows


def main(argv: list[str]) -> None:
    del argv
    from vivit.data import get_dataset
    from vivit.tasks import task_for_config

    height, width = (int(v) for v in _VIDEO_SIZE.value)
    cores = os.cpu_count() or 1
    per_core = {}
    num_videos = (_BATCHES.value + 1) * _BATCH_SIZE.value
    with tempfile.TemporaryDirectory() as directory:
        write_videos(directory, num_videos, _VIDEO_FRAMES.value, height, width)
        print(f"videos {height}x{width}, clips {_NUM_FRAMES.value}x{_CROP_SIZE.value}, "
              f"batch_size={_BATCH_SIZE.value}, {cores} cores")
        for workers in (int(w) for w in _WORKERS.value):
            used = min(workers, cores)
            for recipe, split in (("k400", "train"), ("ssv2", "train"), ("k400", "test")):
                config = recipe_config(recipe, directory, workers, num_videos)
                data = get_dataset(config, split, task_for_config(config), process_index=0,
                                   process_count=1)
                rate, per_cpu_second = clips_per_second(data.batches(), _BATCHES.value)
                unit = "videos/s (12 views)" if split == "test" else "clips/s"
                name = f"{recipe} {split}" if split == "train" else "test 4x3"
                per_core.setdefault(name, per_cpu_second)
                print(f"workers={workers}  {name:<10} {rate:7.2f} {unit}, "
                      f"{rate / used:6.2f} per core (wall), {per_cpu_second:6.2f} per CPU second")
        print("\nOne reader, profiled: share of its CPU time inside OpenCV calls, which release "
              "the GIL, and the speed-up over one reader that threads reach at least before the "
              "GIL binds:")
        for recipe, split in (("k400", "train"), ("ssv2", "train"), ("k400", "test")):
            config = recipe_config(recipe, directory, 1, num_videos)
            data = get_dataset(config, split, task_for_config(config), process_index=0,
                               process_count=1)
            share = opencv_share(data, _BATCHES.value * _BATCH_SIZE.value)
            name = f"{recipe} {split}" if split == "train" else "test 4x3"
            print(f"  {name:<10} {share:4.0%} in OpenCV, GIL ceiling >= "
                  f"{1 / max(1 - share, 1e-9):.1f}x one reader")
    if not _CONSUMPTION.value:
        return
    print(f"\nTraining consumption at {UTILISATION:.0%} of bf16 peak "
          "(clips/s per chip; host cores needed at this host's K400 clips per CPU second):")
    for name, gflops, rates in model_consumption():
        cells = ", ".join(f"{chip} {rate:.0f} ({rate / per_core['k400 train']:.1f} cores)"
                          for chip, rate in rates.items())
        print(f"  {name} ({gflops:.0f} GFLOPs/clip): {cells}")


if __name__ == "__main__":
    app.run(main)
