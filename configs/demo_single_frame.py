"""Control for configs/demo.py: the same model and data, but each clip is a single frame.

    python main.py --config=configs/demo_single_frame.py --workdir=/tmp/vivit_demo_single_frame

The synthetic classes differ only in motion, so this model should stay near chance (10%),
while the demo reaches over 90%: the gap is what temporal modelling buys.
"""

import os

import ml_collections

from vivit.config import load_config_file


def get_config() -> ml_collections.ConfigDict:
    config = load_config_file(os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.py"))
    config.experiment_name = "synthetic_motion_vivit_demo_single_frame"
    config.dataset_configs.num_frames = 1
    config.model.patches.size = (8, 8, 1)
    return config
