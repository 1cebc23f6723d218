"""A small ViViT (Model 1, tubelets 8x8x2) on synthetic motion clips: trains in minutes on 2 CPUs.

    python main.py --config=configs/demo.py --workdir=/tmp/vivit_demo

The ten synthetic classes (four directions x two speeds, two rotations) differ only in how a
shape moves, so a model must use time to beat chance; `configs/demo_single_frame.py` is the
same model seeing one frame, which cannot.
"""

import ml_collections

from vivit.config import default_config


def get_config() -> ml_collections.ConfigDict:
    config = default_config()
    config.experiment_name = "synthetic_motion_vivit_demo"

    config.model_name = "vivit_classification"
    model = config.model
    model.hidden_size = 64
    model.num_heads = 4
    model.mlp_dim = 128
    model.num_layers = 2
    model.patches.size = (8, 8, 2)
    model.attention_config.type = "spacetime"
    model.classifier = "gap"
    model.dropout_rate = 0.0
    model.attention_dropout_rate = 0.0
    model.stochastic_droplayer_rate = 0.0

    config.dataset_name = "synthetic_motion"
    data = config.dataset_configs
    data.num_classes = 10
    data.synthetic.update(num_train_examples=4096, num_validation_examples=256,
                          num_test_examples=512, video_frames=16, resolution=32)
    data.num_frames = 8
    data.stride = 2
    data.min_resize = 32
    data.crop_size = 32
    # Left/right is the label: flipping would change it.
    data.random_flip = False
    data.num_test_clips = 2
    data.num_parallel_reads = 2

    config.batch_size = 32
    config.num_training_steps = 600
    config.optimizer = "adamw"
    config.optimizer_configs.weight_decay = 1e-4
    config.max_grad_norm = 1.0
    config.lr_configs.base_learning_rate = 3e-3
    config.lr_configs.warmup_steps = 50
    config.log_summary_steps = 50
    config.log_eval_steps = 200
    config.checkpoint_steps = 200
    config.max_checkpoints_to_keep = 2
    return config
