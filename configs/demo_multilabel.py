"""The demo's ViViT on multi-label synthetic motion: each video shows one to three shapes, each
moving in a different one of the eight translations (four directions x two speeds), and the model
names all of them. Trains in minutes on 2 CPUs. (Small rotating shapes, classes 8 and 9, are left
out: the demo's model tells their sense apart too slowly.)

    python main.py --config=configs/demo_multilabel.py --workdir=/tmp/vivit_demo_multilabel

Reports mAP (mean over classes of the average precision, over the whole split) and each class's
AP; mAP picks the best checkpoint.
"""

import os

import ml_collections

from vivit.config import load_config_file


def get_config() -> ml_collections.ConfigDict:
    config = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.py"))
    config.experiment_name = "synthetic_motion_vivit_demo_multilabel"
    config.model_name = "vivit_multilabel_classification"
    config.dataset_configs.num_classes = 8
    config.dataset_configs.synthetic.objects_per_video = 3
    return config
