"""ViViT-L/16x2 factorized encoder (Model 2) on Kinetics-600 (Table 6b: 82.9 top-1).

    python main.py --config=configs/k600_l_fe.py --workdir=DIR \
        --config.dataset_configs.base_dir=/path/to/k600_tfrecords --config.mesh.fsdp=-1

Follows the paper where Scenic's kinetics600/vivit_large_factorised_encoder.py differs: L_t = 4
temporal layers (Scenic: 24) and Table 7's base LR 0.1 (Scenic: 0.05). 30 epochs.
"""

import ml_collections

from common import paper_config


def get_config() -> ml_collections.ConfigDict:
    return paper_config("k600", "L/16x2", "factorized_encoder")
