"""Declares the `init_from.*` keys: which checkpoint initializes the model, and how.

Names follow Scenic's ViViT (`scenic/projects/vivit`) so its configs carry over. The tubelet-kernel
rule `model.temporal_encoding_config.kernel_init_method` is declared by the models section.
"""

from __future__ import annotations

import ml_collections


def init_from_defaults() -> ml_collections.ConfigDict:
    """The `init_from` section at its defaults (no initialization)."""
    return ml_collections.ConfigDict(
        {
            # File or directory of the checkpoint to start from; None trains from scratch.
            # Accepted: a ViT/big_vision .npz, a Scenic/Flax `checkpoint_<step>` file (or the
            # directory holding them), an Orbax checkpoint (workdir, step dir or item dir), or a
            # Hugging Face model directory (config.json + model.safetensors / pytorch_model.bin).
            "checkpoint_path": None,
            # None detects the format from the files. Otherwise one of: vit_npz (the
            # google-research/vision_transformer .npz), big_vision (big_vision .npz), scenic
            # (Flax msgpack `checkpoint_<step>`), orbax, huggingface.
            "checkpoint_format": None,
            # Copy (and adapt: see positional_embed_size_change) the positional embeddings.
            "restore_positional_embedding": True,
            # Copy the patch / tubelet embedding; a 2D image kernel is inflated to the tubelet
            # with model.temporal_encoding_config.kernel_init_method.
            "restore_input_embedding": True,
            # How a posemb of another length is adapted: tile (repeat the image posemb over
            # time, the paper's rule) | resize (bilinear 2D resize of a square grid) |
            # resize_tile (resize each frame's grid, then repeat over time).
            "positional_embed_size_change": "tile",
            # Model 2: restore the spatial encoder. Model 3: restore the spatial attention.
            "init_spatial_transformer": True,
            # Model 2: restore the temporal encoder when the checkpoint has one (a ViViT-FE).
            # Model 3: initialize the temporal attention as temporal_attention_init says.
            "init_temporal_transformer": True,
            # Model 3 temporal attention from a checkpoint without one: zero (the paper: its
            # output projection starts at zero so the block starts as a residual connection;
            # query/key/value keep the model's fresh init) | copy_spatial (Scenic: a copy of
            # the pretrained spatial attention).
            "temporal_attention_init": "zero",
            # Model 3: also copy the pretrained attention LayerNorm into LayerNorm_time
            # (otherwise it keeps its fresh init: scale 1, bias 0).
            "init_temporal_layer_norm": False,
            # The classification head (output_projection): None restores it when its shape
            # matches the model's (same class count) and keeps the fresh head otherwise;
            # True requires it (error when the class count differs); False never restores it.
            "restore_output_projection": None,
            # Scenic: the config of the model the checkpoint holds. Accepted so Scenic configs
            # load; vivit reads every shape from the checkpoint itself.
            "model_config": None,
        }
    )
