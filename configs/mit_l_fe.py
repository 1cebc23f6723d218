"""ViViT-L/16x2 factorized encoder (Model 2) on Moments in Time (Table 6c: 38.5 top-1).

    python main.py --config=configs/mit_l_fe.py --workdir=DIR \
        --config.dataset_configs.base_dir=/path/to/mit_tfrecords --config.mesh.fsdp=-1

Scenic released no MiT config. Table 7: base LR 0.25, 10 epochs, colour jitter, no other
regulariser. MiT v1 has 339 classes; its labelled validation split doubles as the test split.
"""

import ml_collections

from common import paper_config


def get_config() -> ml_collections.ConfigDict:
    return paper_config("mit", "L/16x2", "factorized_encoder")
