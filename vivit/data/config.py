"""Declares the data keys of the config (`dataset_name`, `data_dtype_str`, `dataset_configs.*`).

Key names follow Scenic's `video_tfrecord_dataset` where it has them.
"""

from __future__ import annotations

import ml_collections


def data_defaults() -> ml_collections.ConfigDict:
    """Top-level data keys and the `dataset_configs` section, at their defaults."""
    dataset_configs = ml_collections.ConfigDict()
    # Number of classes of the single-head and multi-label models.
    dataset_configs.num_classes = None
    # Multi-head models (Epic Kitchens): classes per head, and the heads' names.
    dataset_configs.class_splits = None
    dataset_configs.split_names = None
    dataset_configs.num_frames = 32
    dataset_configs.stride = 2
    dataset_configs.min_resize = 256
    dataset_configs.crop_size = 224
    return ml_collections.ConfigDict(
        {
            "dataset_name": "synthetic_motion",
            "data_dtype_str": "float32",
            "dataset_configs": dataset_configs,
        }
    )
