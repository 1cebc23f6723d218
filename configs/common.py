"""Shared parts of the paper's configs: a ViViT/16x2 model trained with Table 7's recipe.

Each `configs/<dataset>_<model>.py` is `paper_config(dataset, size, attention)` plus what is
special to it. Sources: arXiv 2103.15691v2 (Sec. 4.1, Table 2, Appendix A, Table 7) for the
recipe; Scenic's released ViViT configs for what the paper does not state (split sizes, shard
names, frame stride, test views, gradient clipping); where the two differ the paper wins and the
config file says so.

Data: DMVR TFRecords (e.g. written by `python -m vivit.data.prepare`); set their directory with
--config.dataset_configs.base_dir=DIR. Shard counts and split sizes below are Scenic's; for your
own copy set --config.dataset_configs.tables.train='train.tfrecord@N' (or a glob) and
--config.dataset_configs.examples_per_subset.train=COUNT (checked against what is read), and the
same for validation and test. Pretrained weights: --config.init_from.checkpoint_path=...
(ImageNet-21k ViT for Kinetics and MiT; the paper initializes EK and SSv2 from Kinetics models).

This file is not a config (it has no get_config()); config files import it as a sibling module,
which `vivit.config.load_config_file` allows.
"""

from __future__ import annotations

import dataclasses

import ml_collections

from vivit.config import default_config
from vivit.models import apply_size


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Where a dataset's TFRecords are and what they hold (sizes as the authors had them)."""

    tables: tuple[str, str, str]  # train, validation, test (sharded specs, relative to base_dir)
    examples: tuple[int, int, int]
    num_classes: int | None = None
    class_splits: tuple[int, ...] | None = None  # Multi-head (EK): classes per head.
    split_names: tuple[str, ...] | None = None
    stride: int = 2  # Frames between the 32 sampled frames (Sec. 4.1: stride 2).
    three_crop_test: bool = True  # Test views: 4 temporal clips x 3 spatial crops.


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One column of Table 7. Shared by all columns: SGD momentum 0.9, batch 64, cosine
    schedule with 2.5 warmup epochs, random crop, flip 0.5, scale jitter 0.9-1.33."""

    base_learning_rate: float
    epochs: float
    color_jitter: bool = True  # Probability 0.8 (K400, K600, MiT).
    rand_augment: tuple[int, int] | None = None  # (layers, magnitude)
    droplayer: float = 0.0
    label_smoothing: float | None = None
    mixup_alpha: float | None = None


def _shards(prefix: str, train: int, evaluation: int, test_split: str = "test"
            ) -> tuple[str, str, str]:
    return (f"{prefix}train.tfrecord@{train}", f"{prefix}validation.tfrecord@{evaluation}",
            f"{prefix}{test_split}.tfrecord@{evaluation}")


# Split sizes as in Scenic's configs (the authors' copies); MiT's are the v1 release's. Where a
# dataset has no labelled test split (MiT, EK-100, SSv2) the test is on the validation split.
DATASETS = {
    "k400": Dataset(_shards("", 1024, 1024), (214834, 17637, 34579), num_classes=400),
    "k600": Dataset(_shards("", 1024, 1024), (363213, 27676, 55377), num_classes=600),
    "mit": Dataset(_shards("", 1024, 128, "validation"), (802264, 33900, 33900),
                   num_classes=339),
    # Scenic: 32 frames at stride 1 for EK and SSv2 (short clips); the paper states only the
    # default stride 2. EK test: 4 temporal views x 1 crop (Scenic's README).
    "ek100": Dataset(_shards("", 1024, 128, "validation"), (67217, 9668, 9668),
                     class_splits=(300, 97), split_names=("noun", "verb"), stride=1,
                     three_crop_test=False),
    "ssv2": Dataset(_shards("", 128, 128, "validation"), (168913, 24777, 24777),
                    num_classes=174, stride=1),
}

# Table 7 of arXiv 2103.15691v2.
TABLE7 = {
    "k400": Recipe(base_learning_rate=0.1, epochs=30),
    "k600": Recipe(base_learning_rate=0.1, epochs=30),
    "mit": Recipe(base_learning_rate=0.25, epochs=10),
    "ek100": Recipe(base_learning_rate=0.5, epochs=50, color_jitter=False, rand_augment=(2, 15),
                    droplayer=0.2, label_smoothing=0.2, mixup_alpha=0.1),
    "ssv2": Recipe(base_learning_rate=0.5, epochs=35, color_jitter=False, rand_augment=(2, 20),
                   droplayer=0.3, label_smoothing=0.3, mixup_alpha=0.3),
}


def paper_config(dataset: str, size: str, attention: str) -> ml_collections.ConfigDict:
    """ViViT-`size` (e.g. 'L/16x2') with attention type `attention` on `dataset`, Table 7."""
    data, recipe = DATASETS[dataset], TABLE7[dataset]
    config = default_config()
    config.experiment_name = (
        f"{dataset}_vivit_{size.replace('/', '').lower()}_{attention}")

    # Model: the backbone preset sets L_t = 4 temporal layers for Model 2 (the paper).
    config.model_name = ("vivit_multihead_classification" if data.class_splits
                         else "vivit_classification")
    apply_size(config.model, size)
    config.model.attention_config.type = attention
    config.model.classifier = "token"
    config.model.temporal_encoding_config.method = "3d_conv"
    config.model.temporal_encoding_config.kernel_init_method = "central_frame_initializer"
    config.model.stochastic_droplayer_rate = recipe.droplayer

    config.dataset_name = "video_tfrecord_dataset"
    configs = config.dataset_configs
    configs.base_dir = None  # --config.dataset_configs.base_dir=/path/to/tfrecords
    configs.tables.update(dict(zip(("train", "validation", "test"), data.tables)))
    configs.examples_per_subset.update(
        dict(zip(("train", "validation", "test"), data.examples)))
    if data.class_splits:
        configs.class_splits = list(data.class_splits)
        configs.split_names = list(data.split_names)
        # Action accuracy (the joint of verb and noun) is EK's main metric.
        config.best_checkpoint_metric = "-".join(data.split_names) + "_accuracy"
    else:
        configs.num_classes = data.num_classes
    configs.num_frames = 32
    configs.stride = data.stride
    configs.min_resize = 256
    configs.crop_size = 224
    configs.num_test_clips = 4
    configs.do_three_spatial_crops = data.three_crop_test
    # Videos per test batch (each with all its views); a multiple of the device count.
    configs.test_batch_size = 8
    augment = configs.augmentation_params
    augment.update(do_jitter_scale=True, scale_min_factor=0.9, scale_max_factor=1.33,
                   prob_scale_jitter=1.0)
    augment.update(do_color_augment=recipe.color_jitter, prob_color_augment=0.8,
                   prob_color_drop=0.1)
    if recipe.rand_augment:
        augment.update(do_rand_augment=True, rand_augment_num_layers=recipe.rand_augment[0],
                       rand_augment_magnitude=recipe.rand_augment[1])

    config.batch_size = 64
    config.num_training_epochs = recipe.epochs
    config.optimizer = "momentum"
    config.optimizer_configs.momentum = 0.9
    config.max_grad_norm = 1.0  # Scenic; the paper does not say.
    config.label_smoothing = recipe.label_smoothing
    config.mixup.alpha = recipe.mixup_alpha
    lr = config.lr_configs
    lr.factors = "constant * cosine_decay * linear_warmup"
    lr.base_learning_rate = recipe.base_learning_rate
    # In epochs, so --config.batch_size or --config.num_training_epochs keep the schedule's
    # shape; the cosine decays over the whole run (steps_per_cycle None).
    lr.warmup_epochs = 2.5

    init = config.init_from
    init.checkpoint_path = None  # e.g. /ckpts/imagenet21k_ViT-L_16.npz or a K400 ViViT workdir.
    init.positional_embed_size_change = "tile"
    return config
