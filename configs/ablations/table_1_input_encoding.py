"""Paper Table 1: input encoding, ViViT-B Model 1 (spatio-temporal attention) on Kinetics-400.

    python -m vivit.sweep --sweep=configs/ablations/table_1_input_encoding.py --workdir=DIR \
        --set=dataset_configs.base_dir=/data/k400 --set=init_from.checkpoint_path=/ckpt/vit_b16.npz

Uniform sampling of 8 frames and tubelets with t = 4 give the same number of tokens (32-frame
clips). The three tubelet rows differ in how the ImageNet ViT's 2D patch kernel becomes the 3D
tubelet kernel, so they need init_from.checkpoint_path (an ImageNet-21k ViT-B/16).
"""

from vivit.sweep import ABLATION_VIEWS, Row, Sweep, parse_sweep_arg

_METHOD = "model.temporal_encoding_config.method"
_KERNEL = "model.temporal_encoding_config.kernel_init_method"

ROWS = (
    Row("encoding=uniform_frames", "Uniform frame sampling",
        {_METHOD: "temporal_sampling", "model.temporal_encoding_config.n_sampled_frames": 8,
         "model.patches.size": (16, 16)},
        paper={"accuracy": 78.5},
        tiny={"model.temporal_encoding_config.n_sampled_frames": 2, "model.patches.size": (8, 8)}),
    # Not restored from the image model: the whole tubelet kernel is lecun-normal at random
    # (no inflation rule), the rest of the model comes from the ViT.
    Row("encoding=tubelet,init=random", "Tubelet embedding: Random initialization",
        {_METHOD: "3d_conv", "model.patches.size": (16, 16, 4), _KERNEL: None,
         "init_from.restore_input_embedding": False},
        paper={"accuracy": 73.2}, tiny={"model.patches.size": (8, 8, 4)}),
    Row("encoding=tubelet,init=filter_inflation", "Tubelet embedding: Filter inflation",
        {_METHOD: "3d_conv", "model.patches.size": (16, 16, 4),
         _KERNEL: "average_frame_initializer"},
        paper={"accuracy": 77.6}, tiny={"model.patches.size": (8, 8, 4)}),
    Row("encoding=tubelet,init=central_frame", "Tubelet embedding: Central frame",
        {_METHOD: "3d_conv", "model.patches.size": (16, 16, 4),
         _KERNEL: "central_frame_initializer"},
        paper={"accuracy": 79.2}, tiny={"model.patches.size": (8, 8, 4)}),
)


def get_sweep(arg: str = "") -> Sweep:
    parse_sweep_arg(arg)
    return Sweep(
        key="table_1_input_encoding",
        title="Table 1: input encoding, ViViT-B Model 1 on Kinetics-400",
        base="configs/k400_fe.py",
        common={**ABLATION_VIEWS, "model.attention_config.type": "spacetime",
                "model.classifier": "token"},
        rows=ROWS,
        row_header="Method",
        paper_protocol="multi-view 4x1*, videos not stated",
        notes=("* 4 temporal views is the paper's default (Sec. 4.1); Table 1 does not state "
               "its views.",
               "Random initialization: kernel_init_method=None and restore_input_embedding="
               "False, so the tubelet kernel is lecun-normal over all its frames.",
               "The tubelet rows need --set=init_from.checkpoint_path=<ImageNet-21k ViT-B/16>: "
               "without it the three initializations differ only in their fresh init."),
    )
