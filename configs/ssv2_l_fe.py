"""ViViT-L/16x2 factorized encoder (Model 2) on Something-Something v2 (Table 6e: 65.9 top-1).

    python main.py --config=configs/ssv2_l_fe.py --workdir=DIR \
        --config.dataset_configs.base_dir=/path/to/ssv2_tfrecords \
        --config.init_from.checkpoint_path=/path/to/k400_vivit_l_fe_workdir --config.mesh.fsdp=-1

Table 7: base LR 0.5, 35 epochs, RandAugment (2, 20) instead of colour jitter, stochastic depth
0.3, label smoothing 0.3, mixup 0.3. Follows the paper where Scenic's
something_something_v2/vivit_large_factorised_encoder.py differs: base LR 0.5 (Scenic: 0.4) and
the paper's 224 crop of a 256 resize (Scenic: 256 of 288, which also needs a posemb 'resize').
Random flip stays on as in Table 7 (and Scenic), although some SSv2 labels name a direction;
--config.dataset_configs.random_flip=False turns it off.
"""

import ml_collections

from common import paper_config


def get_config() -> ml_collections.ConfigDict:
    return paper_config("ssv2", "L/16x2", "factorized_encoder")
