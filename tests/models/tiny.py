"""Tiny model configs for fast tests: every variant at a size that compiles in about a second."""

from __future__ import annotations

import ml_collections

from vivit.config import default_config

CLIP_SHAPE = (2, 4, 16, 16, 3)  # [batch, time, height, width, channels]
NUM_CLASSES = 7


def tiny_config(attention_type: str = "spacetime", *, method: str = "3d_conv",
                classifier: str | None = None, baseline: bool = False,
                **model_overrides) -> ml_collections.ConfigDict:
    """A 1-layer, 16-wide ViViT of `attention_type` on 4x16x16 clips (8x8x2 tubelets)."""
    config = default_config()
    model = config.model
    model.hidden_size = 16
    model.num_heads = 2
    model.mlp_dim = 32
    model.num_layers = 1
    for section in (model.spatial_transformer, model.temporal_transformer):
        section.update(num_heads=2, mlp_dim=32, num_layers=1)
    model.attention_config.type = attention_type
    model.attention_config.spatial_only_baseline = baseline
    model.temporal_encoding_config.method = method
    if method == "3d_conv":
        model.patches.size = (8, 8, 2)
    else:
        model.patches.size = (8, 8)
        model.temporal_encoding_config.n_sampled_frames = 2
    if classifier is None:
        factorized_blocks = attention_type in (
            "factorized_self_attention_block", "factorized_dot_product_attention")
        classifier = "gap" if factorized_blocks else "token"
    model.classifier = classifier
    model.update(model_overrides)
    config.dataset_configs.num_classes = NUM_CLASSES
    return config
