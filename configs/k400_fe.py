"""ViViT-B/16x2 factorized encoder (Model 2) on Kinetics-400, with the paper's settings.

    python main.py --config=configs/k400_fe.py --workdir=DIR \
        --config.dataset_configs.base_dir=/path/to/k400_tfrecords

Paper (Table 2, Table 7): 32 frames at stride 2, 224 crop, tubelet 16x16x2, L_t = 4 temporal
layers, ImageNet-21k ViT-B/16 init, SGD momentum 0.9, batch 64, base LR 0.1, 30 epochs,
cosine decay with 2.5 warmup epochs, scale jitter + colour jitter, no other regulariser.
Scenic's released file (kinetics400/vivit_base_factorised_encoder.py) uses base LR 0.05; this
follows Table 7. Shared parts: configs/common.py.
"""

import ml_collections

from common import paper_config


def get_config() -> ml_collections.ConfigDict:
    config = paper_config("k400", "B/16x2", "factorized_encoder")
    config.experiment_name = "k400_vivit_b16x2_factorized_encoder"
    return config
