"""ViViT-B/16x2 factorised encoder (Model 2) on Kinetics-400, with the paper's settings.

    python main.py --config=configs/k400_fe.py --workdir=DIR \
        --config.dataset_configs.base_dir=/path/to/k400_tfrecords

Paper (Table 2, Table 7): 32 frames at stride 2, 224 crop, tubelet 16x16x2, L_t = 4 temporal
layers, ImageNet-21k ViT-B/16 init, SGD momentum 0.9, batch 64, base LR 0.1, 30 epochs,
cosine decay with 2.5 warmup epochs, scale jitter + colour jitter, no other regulariser.
"""

import ml_collections

from vivit.config import default_config
from vivit.models import apply_size


def get_config() -> ml_collections.ConfigDict:
    config = default_config()
    config.experiment_name = "k400_vivit_b16x2_factorised_encoder"

    config.model_name = "vivit_classification"
    apply_size(config.model, "B/16x2")
    config.model.attention_config.type = "factorized_encoder"
    config.model.classifier = "token"
    config.model.temporal_encoding_config.method = "3d_conv"
    config.model.temporal_encoding_config.kernel_init_method = "central_frame_initializer"

    config.dataset_name = "video_tfrecord_dataset"
    data = config.dataset_configs
    # Set with --config.dataset_configs.base_dir=/path/to/k400 (TFRecords in DMVR layout, e.g.
    # written by `python -m vivit.data.prepare`).
    data.base_dir = None
    data.tables.update(
        train="train.tfrecord@1024", validation="validation.tfrecord@1024", test="test.tfrecord@1024"
    )
    data.examples_per_subset.update(train=214834, validation=17637, test=34579)
    data.num_test_clips = 4
    data.augmentation_params.update(
        do_jitter_scale=True, scale_min_factor=0.9, scale_max_factor=1.33, prob_scale_jitter=1.0,
        do_color_augment=True, prob_color_augment=0.8, prob_color_drop=0.1,
    )
    config.dataset_configs.num_classes = 400
    config.dataset_configs.num_frames = 32
    config.dataset_configs.stride = 2
    config.dataset_configs.min_resize = 256
    config.dataset_configs.crop_size = 224
    config.batch_size = 64
    config.num_training_epochs = 30
    config.optimizer = "momentum"
    config.optimizer_configs.momentum = 0.9
    config.max_grad_norm = 1.0
    config.lr_configs.base_learning_rate = 0.1
    steps_per_epoch = data.examples_per_subset.train // config.batch_size
    config.lr_configs.warmup_steps = int(2.5 * steps_per_epoch)
    config.lr_configs.steps_per_cycle = config.num_training_epochs * steps_per_epoch
    config.init_from.checkpoint_path = None  # e.g. /ckpts/imagenet21k_ViT-B_16.npz
    return config
