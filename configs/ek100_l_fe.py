"""ViViT-L/16x2 factorized encoder (Model 2) on Epic-Kitchens-100, one head for nouns (300) and
one for verbs (97) (Table 6d: action 44.0, verb 66.4, noun 56.8 top-1).

    python main.py --config=configs/ek100_l_fe.py --workdir=DIR \
        --config.dataset_configs.base_dir=/path/to/ek100_tfrecords \
        --config.init_from.checkpoint_path=/path/to/k400_vivit_l_fe_workdir --config.mesh.fsdp=-1

Each TFRecord carries two label indices (noun, verb) in clip/label/index. Table 7: base LR 0.5,
50 epochs, RandAugment (2 layers, magnitude 15) instead of colour jitter, stochastic depth 0.2,
label smoothing 0.2, mixup alpha 0.1; the paper initializes from a Kinetics model (Table 4).
The best checkpoint is picked by action (noun-verb) accuracy. Scenic's
epic_kitchens/vivit_large_factorised_encoder.py has the same values but does not parse (line 142
is a comment without '#') and sets no num_classes; this file is the working one.
"""

import ml_collections

from common import paper_config


def get_config() -> ml_collections.ConfigDict:
    return paper_config("ek100", "L/16x2", "factorized_encoder")
