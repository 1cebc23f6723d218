"""Factorized encoder (Model 2) with a per-frame CvT-13 on Kinetics-400.

    python main.py --config=configs/k400_cvt13_fe.py --workdir=DIR \
        --config.dataset_configs.base_dir=/path/to/k400_tfrecords \
        --config.init_from.checkpoint_path=/path/to/microsoft-cvt-13   # a HF save_pretrained dir

The training settings are the ViViT-B/16x2 factorized encoder's (configs/k400_fe.py). The CvT
embeds every frame itself (model.patches.size[2] = 1; with 2, it would embed 2-frame tubelets
through an inflated first kernel, half the cost); its 384-wide class token per frame feeds a
4-layer temporal transformer of the same width. `init_from` fills the CvT from the image
checkpoint; the temporal transformer starts fresh.
"""

import ml_collections

from common import paper_config


def get_config() -> ml_collections.ConfigDict:
    config = paper_config("k400", "B/16x2", "factorized_encoder")
    config.experiment_name = "k400_cvt13_factorized_encoder"
    model = config.model
    model.spatial_transformer.backbone = "cvt-13"
    model.patches.size = (16, 16, 1)  # Frames; CvT reads only the time size.
    model.hidden_size = 384  # CvT-13's last stage, so no projection is needed.
    model.temporal_transformer.update(num_layers=4, num_heads=6, mlp_dim=1536)
    config.init_from.checkpoint_format = "huggingface"
    return config
