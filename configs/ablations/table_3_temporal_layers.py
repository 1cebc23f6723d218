"""Paper Table 3: temporal transformer layers L_t of the factorized encoder (Model 2), ViViT-B/16x2
on Kinetics-400. L_t = 0 is the average-pooling baseline.

    python -m vivit.sweep --sweep=configs/ablations/table_3_temporal_layers.py --workdir=DIR \
        --set=dataset_configs.base_dir=/data/k400 --set=init_from.checkpoint_path=/ckpt/vit_b16.npz
"""

from vivit.sweep import ABLATION_VIEWS, Row, Sweep, parse_sweep_arg

_PAPER = {0: 75.8, 1: 78.6, 4: 78.8, 8: 78.8, 12: 78.9}


def _row(layers: int) -> Row:
    if layers == 0:
        overrides = {"model.attention_config.spatial_only_baseline": True}
    else:
        overrides = {"model.temporal_transformer.num_layers": layers}
    return Row(f"temporal_layers={layers}", str(layers), overrides,
               paper={"accuracy": _PAPER[layers]}, series="ViViT-B/16x2 FE", x=layers)


def get_sweep(arg: str = "") -> Sweep:
    parse_sweep_arg(arg)
    return Sweep(
        key="table_3_temporal_layers",
        title="Table 3: temporal layers L_t in the factorized encoder, ViViT-B/16x2 on "
              "Kinetics-400",
        base="configs/k400_fe.py",
        common={**ABLATION_VIEWS, "model.attention_config.type": "factorized_encoder"},
        rows=tuple(_row(layers) for layers in _PAPER),
        row_header="L_t",
        paper_protocol="multi-view 4x1*, videos not stated",
        notes=("* 4 temporal views is the paper's default (Sec. 4.1); Table 3 does not state "
               "its views.",
               "The paper prints no compute for this table; ours is computed."),
    )
