"""Declares the data keys of the config (`dataset_name`, `data_dtype_str`, `dataset_configs.*`).

Key names follow Scenic's `video_tfrecord_dataset` where it has them; keys Scenic does not have
(`random_flip`, `synthetic.*`, `num_parallel_reads`, `random_erasing_prob` placement) are ours.
"""

from __future__ import annotations

import ml_collections


def _augmentation_defaults() -> ml_collections.ConfigDict:
    """Training-only augmentations of the paper (Table 7); all off by default."""
    return ml_collections.ConfigDict(
        {
            # Scale jitter: resize the clip by a factor in [scale_min_factor, scale_max_factor]
            # (with probability prob_scale_jitter) before the random crop.
            "do_jitter_scale": False,
            "scale_min_factor": 0.9,
            "scale_max_factor": 1.33,
            "prob_scale_jitter": 1.0,
            # Colour jitter (brightness, contrast, saturation, hue; same for every frame) with
            # probability prob_color_augment, then grey-scale with probability prob_color_drop.
            "do_color_augment": False,
            "prob_color_augment": 0.8,
            "prob_color_drop": 0.1,
            # RandAugment, the same ops and magnitudes on every frame of a clip. Takes priority
            # over colour jitter (as in Scenic: only one of the two runs).
            "do_rand_augment": False,
            "rand_augment_num_layers": 2,
            "rand_augment_magnitude": 15,
            # Random erasing: with this probability, one rectangle (the same in every frame) is
            # replaced by noise. 0 disables it.
            "random_erasing_prob": 0.0,
        }
    )


def _synthetic_defaults() -> ml_collections.ConfigDict:
    """Size of the locally generated `synthetic_motion` dataset."""
    return ml_collections.ConfigDict(
        {
            "num_train_examples": 2048,
            "num_validation_examples": 256,
            "num_test_examples": 256,
            # Frames per generated video (clips of num_frames at stride are sampled from it).
            "video_frames": 16,
            # Height and width of the generated frames.
            "resolution": 32,
            # Seed of the videos' content (not of sampling or augmentation: that is rng_seed).
            "seed": 0,
            # Multi-label (vivit_multilabel_classification) only: each video shows between 1
            # and this many shapes, each of a different class.
            "objects_per_video": 3,
        }
    )


def _tfds_defaults() -> ml_collections.ConfigDict:
    """Which TFDS dataset (prepared as ArrayRecord) and which of its features to read."""
    return ml_collections.ConfigDict(
        {
            # TFDS name, e.g. 'ucf101/ucf101_1_256'; its data_dir (None: TFDS's default).
            "name": None,
            "data_dir": None,
            # Features holding the frames ([time, height, width, 3] uint8) and the class index.
            "video_key": "video",
            "label_key": "label",
            # TFDS split read for each of our splits.
            "splits": ml_collections.ConfigDict(
                {"train": "train", "validation": "validation", "test": "test"}
            ),
        }
    )


def data_defaults() -> ml_collections.ConfigDict:
    """Top-level data keys and the `dataset_configs` section, at their defaults."""
    dataset_configs = ml_collections.ConfigDict()
    # Number of classes of the single-head and multi-label models. synthetic_motion: at most 10.
    dataset_configs.num_classes = None
    # Multi-head models (Epic Kitchens): classes per head, and the heads' names.
    dataset_configs.class_splits = None
    dataset_configs.split_names = None
    # video_tfrecord_dataset: directory of the TFRecords, and per split a file name, glob or
    # sharded spec ('train.tfrecord@1024' = train.tfrecord-00000-of-01024 ...), relative to it.
    dataset_configs.base_dir = None
    dataset_configs.tables = ml_collections.ConfigDict(
        {"train": None, "validation": None, "test": None}
    )
    # Examples per split, as Scenic's configs declare them; checked against what is read.
    dataset_configs.examples_per_subset = ml_collections.ConfigDict(
        {"train": None, "validation": None, "test": None}
    )
    # Subtracted from every `clip/label/index` read (1 for datasets whose labels start at 1).
    dataset_configs.label_offset = 0
    # Clip: num_frames frames, `stride` frames apart in the video.
    dataset_configs.num_frames = 32
    dataset_configs.stride = 2
    # Shorter side is resized to min_resize, then a crop_size x crop_size crop is taken.
    dataset_configs.min_resize = 256
    dataset_configs.crop_size = 224
    # Model inputs in [-1, 1] (Scenic's default); False gives [0, 1]. Batches carry uint8 pixels;
    # the jitted steps scale them on the device (vivit.train.pixels).
    dataset_configs.zero_centering = True
    # Test split: evenly spaced clips per video, each optionally x 3 spatial crops.
    dataset_configs.num_test_clips = 1
    dataset_configs.do_three_spatial_crops = False
    # Random horizontal flip in training. Turn off where left/right is the label (SSv2,
    # synthetic_motion).
    dataset_configs.random_flip = True
    # Multi-view test: run it at all (False skips it), every log_test_epochs epochs during
    # training (None: only at the end), with test_batch_size videos per global batch (None:
    # eval_batch_size, else batch_size; each video carries all its views).
    dataset_configs.do_multicrop_test = True
    dataset_configs.log_test_epochs = None
    dataset_configs.test_batch_size = None
    # Accepted so Scenic configs load; no effect here (labels are one-hot on device where a loss
    # needs them, and batches are put on devices as they are produced).
    dataset_configs.one_hot_labels = True
    dataset_configs.prefetch_to_device = None
    # Add the video ids (`key`) to batches.
    dataset_configs.keep_key = False
    # Threads that read and augment examples in parallel.
    dataset_configs.num_parallel_reads = 2
    dataset_configs.augmentation_params = _augmentation_defaults()
    dataset_configs.synthetic = _synthetic_defaults()
    dataset_configs.tfds = _tfds_defaults()
    return ml_collections.ConfigDict(
        {
            # synthetic_motion | video_tfrecord_dataset | tfds
            "dataset_name": "synthetic_motion",
            "data_dtype_str": "float32",
            "dataset_configs": dataset_configs,
        }
    )
