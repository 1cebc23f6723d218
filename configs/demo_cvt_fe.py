"""A tiny CvT factorized encoder (Model 2, per-frame 'cvt-tiny') on synthetic motion clips.

    python main.py --config=configs/demo_cvt_fe.py --workdir=/tmp/vivit_demo_cvt

The CvT embeds each 32x32 frame with its own convolutions; a 1-layer temporal transformer mixes
the 8 frames, which the synthetic classes need (they differ only in motion).
Known problem: it does not learn yet (loss stays at chance); see docs/models.md.
"""

import ml_collections

from configs import demo


def get_config() -> ml_collections.ConfigDict:
    config = demo.get_config()
    config.experiment_name = "synthetic_motion_cvt_fe_demo"
    model = config.model
    model.attention_config.type = "factorized_encoder"
    model.classifier = "token"
    model.hidden_size = 64
    model.spatial_transformer.backbone = "cvt-tiny"
    model.temporal_transformer.update(num_layers=1, num_heads=4, mlp_dim=128)
    config.num_training_steps = 300
    config.lr_configs.base_learning_rate = 2e-3
    return config
