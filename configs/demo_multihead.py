"""The demo's ViViT with two heads on synthetic motion: direction (right, left, down, up) and
speed (slow, fast), Epic Kitchens style (verb + noun). Trains in minutes on 2 CPUs.

    python main.py --config=configs/demo_multihead.py --workdir=/tmp/vivit_demo_multihead

Reports per-head accuracy and the joint accuracy (`direction-speed_accuracy`: both heads right),
which also picks the best checkpoint.
"""

import os

import ml_collections

from vivit.config import load_config_file


def get_config() -> ml_collections.ConfigDict:
    config = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.py"))
    config.experiment_name = "synthetic_motion_vivit_demo_multihead"
    config.model_name = "vivit_multihead_classification"
    data = config.dataset_configs
    data.num_classes = None
    data.class_splits = [4, 2]
    data.split_names = ["direction", "speed"]
    return config
