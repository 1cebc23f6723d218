"""Control for configs/demo.py: the same model and data, but each clip is a single frame.

    python main.py --config=configs/demo_single_frame.py --workdir=/tmp/vivit_demo_single_frame

The synthetic classes differ only in motion, so this model should stay near chance (10%),
while the demo reaches over 90%: the gap is what temporal modelling buys.
"""

import importlib.util
import os

import ml_collections


def _demo_config() -> ml_collections.ConfigDict:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.py")
    spec = importlib.util.spec_from_file_location("vivit_demo_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def get_config() -> ml_collections.ConfigDict:
    config = _demo_config()
    config.experiment_name = "synthetic_motion_vivit_demo_single_frame"
    config.dataset_configs.num_frames = 1
    config.model.patches.size = (8, 8, 1)
    return config
