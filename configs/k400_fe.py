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

    config.dataset_configs.num_classes = 400
    config.dataset_configs.num_frames = 32
    config.dataset_configs.stride = 2
    config.dataset_configs.min_resize = 256
    config.dataset_configs.crop_size = 224
    config.batch_size = 64
    return config
