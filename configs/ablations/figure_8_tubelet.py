"""Paper Figure 8: temporal tokens (tubelet length t = 8, 4, 2 on 32 frames) for the four
ViViT-B models on Kinetics-400: accuracy and GFLOPs. The plotted values were not recovered
from the paper, so the report has no paper column; it plots ours.

    python -m vivit.sweep --sweep=configs/ablations/figure_8_tubelet.py --workdir=DIR \
        --set=dataset_configs.base_dir=/data/k400 --set=init_from.checkpoint_path=/ckpt/vit_b16.npz
"""

from vivit.sweep import ABLATION_VIEWS, Row, Sweep, parse_sweep_arg

_MODELS = (
    ("spacetime", "Model 1: Spatio-temporal", "token"),
    ("factorized_encoder", "Model 2: Fact. encoder", "token"),
    ("factorized_self_attention_block", "Model 3: Fact. self-attention", "gap"),
    ("factorized_dot_product_attention", "Model 4: Fact. dot product", "gap"),
)
_TUBELETS = (8, 4, 2)


def _rows() -> tuple[Row, ...]:
    rows = []
    for attention, label, classifier in _MODELS:
        for time in _TUBELETS:
            rows.append(Row(
                f"model={attention},tubelet=16x{time}", f"{label}, 16x{time}",
                {"model.attention_config.type": attention, "model.classifier": classifier,
                 "model.patches.size": (16, 16, time)},
                tiny={"model.patches.size": (8, 8, min(time, 4))},
                series=label, x=32 // time))
    return tuple(rows)


def get_sweep(arg: str = "") -> Sweep:
    parse_sweep_arg(arg)
    return Sweep(
        key="figure_8_tubelet",
        title="Figure 8: temporal tokens (tubelet length), ViViT-B on Kinetics-400",
        base="configs/k400_fe.py",
        common=ABLATION_VIEWS,
        rows=_rows(),
        row_header="Model, tubelet",
        paper_protocol="not recovered",
        figure_x="temporal tokens (32 frames / tubelet length)",
        notes=("Paper: smaller tubelets (more tokens) are more accurate for every model; "
               "Model 1's GFLOPs grow the most. Plotted values not recovered.",),
    )
