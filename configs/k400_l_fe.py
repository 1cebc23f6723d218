"""ViViT-L/16x2 factorized encoder (Model 2) on Kinetics-400 (Table 6a: 80.6 top-1 at 1x1 views
with 128 frames; Scenic's README: 80.3 with 32 frames and 4x3 views).

    python main.py --config=configs/k400_l_fe.py --workdir=DIR \
        --config.dataset_configs.base_dir=/path/to/k400_tfrecords --config.mesh.fsdp=-1

Follows the paper: L_t = 4 temporal layers (Sec. 4.1, "in every experiment"), where Scenic's
kinetics400/vivit_large_factorised_encoder.py sets 24. Table 7: base LR 0.1, 30 epochs.
"""

import ml_collections

from common import paper_config


def get_config() -> ml_collections.ConfigDict:
    return paper_config("k400", "L/16x2", "factorized_encoder")
