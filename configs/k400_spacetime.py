"""ViViT-B/16x2 unfactorized (Model 1, spatio-temporal attention) on Kinetics-400.

    python main.py --config=configs/k400_spacetime.py --workdir=DIR \
        --config.dataset_configs.base_dir=/path/to/k400_tfrecords

Table 2's best K400 model (80.0 top-1). Table 7: base LR 0.1, 30 epochs, colour jitter; shared
parts in configs/common.py. Scenic's kinetics400/vivit_base_k400.py has the same values.
"""

import ml_collections

from common import paper_config


def get_config() -> ml_collections.ConfigDict:
    return paper_config("k400", "B/16x2", "spacetime")
