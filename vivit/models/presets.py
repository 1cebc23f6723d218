"""Named model sizes: `Ti`, `S`, `B`, `L`, `H` backbones with a tubelet, e.g. `B/16x2`.

`B/16x2` is a ViT-B backbone with 16x16 patches spanning 2 frames; `B/16` (no time extent) is for
uniform frame sampling. Model 2's temporal transformer has 4 layers (paper, L_t = 4) of the same width.
"""

from __future__ import annotations

import re
from typing import Any

import ml_collections

from vivit.models.encoder import TransformerSize

# hidden_size, TransformerSize(num_layers, num_heads, mlp_dim); ViT's table (Dosovitskiy et al.).
BACKBONES = {
    "Ti": (192, TransformerSize(12, 3, 768)),
    "S": (384, TransformerSize(12, 6, 1536)),
    "B": (768, TransformerSize(12, 12, 3072)),
    "L": (1024, TransformerSize(24, 16, 4096)),
    "H": (1280, TransformerSize(32, 16, 5120)),
}
TEMPORAL_LAYERS = 4
_NAME = re.compile(r"^(?P<backbone>Ti|S|B|L|H)/(?P<patch>\d+)(x(?P<time>\d+))?$")


def parse_size(name: str) -> tuple[int, TransformerSize, tuple[int, ...]]:
    """'B/16x2' -> (hidden_size, backbone size, patch size (16, 16, 2)); 'B/16' -> (16, 16)."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(
            f"Unknown model size {name!r}: expected BACKBONE/PATCH[xTIME] with BACKBONE in "
            f"{sorted(BACKBONES)}, e.g. 'B/16x2' or 'L/16x2'."
        )
    hidden_size, size = BACKBONES[match["backbone"]]
    patch = int(match["patch"])
    patch_size = (patch, patch) if match["time"] is None else (patch, patch, int(match["time"]))
    return hidden_size, size, patch_size


def apply_size(model: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
    """Sets the widths, depths and patch size of `config.model` for the named size; returns it.

    Sets both the single-encoder keys (Models 1, 3, 4) and `spatial_transformer` /
    `temporal_transformer` (Model 2), so the same preset serves every attention type.
    """
    hidden_size, size, patch_size = parse_size(name)
    encoder: dict[str, Any] = {
        "num_layers": size.num_layers, "num_heads": size.num_heads, "mlp_dim": size.mlp_dim,
    }
    model.hidden_size = hidden_size
    model.patches.size = patch_size
    model.update(encoder)
    model.spatial_transformer.update(encoder)
    model.temporal_transformer.update(dict(encoder, num_layers=TEMPORAL_LAYERS))
    return model
