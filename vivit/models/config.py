"""Declares the model keys of the config (`model_name`, `model_dtype_str`, `model.*`).

Key names and meanings follow Scenic's ViViT (`scenic/projects/vivit`), so its configs carry over.
"""

from __future__ import annotations

import ml_collections


def _transformer_section() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {"num_heads": None, "mlp_dim": None, "num_layers": None}
    )


def model_defaults() -> ml_collections.ConfigDict:
    """Top-level model keys and the `model` section, at their defaults."""
    model = ml_collections.ConfigDict()
    # Width of every token; the tubelet/patch embedding projects to this size.
    model.hidden_size = 768
    # Encoder of Models 1, 3 and 4 (Model 2 uses spatial_transformer/temporal_transformer).
    model.num_heads = 12
    model.mlp_dim = 3072
    model.num_layers = 12
    # Factorized encoder (Model 2): the per-frame spatial ViT and the temporal transformer.
    model.spatial_transformer = _transformer_section()
    # The per-frame encoder: a key of vivit.models.backbones.BACKBONES ('vit', or a CvT that
    # embeds raw pixels itself, a frame or a tubelet of patches.size[2] frames: 'cvt-13',
    # 'cvt-21', 'cvt-w24', 'cvt-tiny', 'cvt-tiny-1stage').
    model.spatial_transformer.backbone = "vit"
    # The same choice under a shorter name (e.g. 'cvt-13'); None: spatial_transformer.backbone.
    model.spatial_backbone = None
    # model_name='cvt_classification' only: the CvT size, a key of vivit.models.cvt.CVT_VARIANTS
    # ('cvt-13', 'cvt-21', 'cvt-w24', 'cvt-tiny', 'cvt-tiny-1stage'); the ViViT size keys are
    # then unused.
    model.variant = None
    model.temporal_transformer = _transformer_section()
    # Tubelet / patch size as (h, w, t) for `3d_conv`, (h, w) for `temporal_sampling`.
    model.patches = ml_collections.ConfigDict({"size": (16, 16, 2)})
    # None skips the Dense+tanh pre-logits layer.
    model.representation_size = None
    # How tokens are pooled for the head: token | gap | gmp | gsp ('0' is Scenic's alias of token).
    model.classifier = "token"
    model.dropout_rate = 0.0
    model.attention_dropout_rate = 0.0
    # Stochastic depth: the drop rate rises linearly from 0 (first block) to this (last block).
    model.stochastic_droplayer_rate = 0.0
    model.attention_config = ml_collections.ConfigDict(
        {
            # spacetime | factorized_encoder | factorized_self_attention_block |
            # factorized_dot_product_attention
            "type": "spacetime",
            # Model 3 only: space_time or time_space.
            "attention_order": "space_time",
            # Model 3 only: initializer of the attention kernels, xavier or zero.
            "attention_kernel_init_method": "xavier",
            # Model 2 only: replace the temporal transformer by average pooling (Table 2 baseline).
            "spatial_only_baseline": False,
            # Models 1-3: None keeps Flax's einsum attention; 'xla' runs our float32-softmax
            # kernel with its own backward pass (vivit/models/attention.py), 'cudnn'
            # jax.nn.dot_product_attention's cuDNN kernel (only when attention dropout is 0).
            # Model 4 ignores it: its head-split attention runs each half through our kernel
            # whenever attention dropout is 0.
            "implementation": None,
        }
    )
    model.temporal_encoding_config = ml_collections.ConfigDict(
        {
            # 3d_conv (tubelet embedding) | temporal_sampling (uniform frame sampling).
            "method": "3d_conv",
            # Fresh-init rule for the tubelet kernel: central_frame_initializer |
            # average_frame_initializer | average_arp_frame_initializer | None (lecun normal).
            "kernel_init_method": "central_frame_initializer",
            # temporal_sampling only: how many frames are sampled uniformly from the clip.
            "n_sampled_frames": None,
        }
    )
    # Return the pooled representation (before output_projection) instead of logits.
    model.return_prelogits = False
    # Return the encoder's tokens (before pooling) instead of logits (Models 1, 3, 4).
    model.return_preclassifier = False
    # Rematerialise each encoder block in the backward pass (less memory, more compute).
    model.remat = False
    # With remat=True, what the backward pass keeps of each block (the rest is recomputed):
    # full (nothing: least memory) | dots (every matmul output) | dots_no_batch (the weight
    # matmuls: projections and MLP; attention is recomputed). See docs/hardware.md.
    model.remat_policy = "full"
    # Run the encoder blocks as one nn.scan step (compiles once, not num_layers times); params
    # are stacked on a leading layer axis under `encoderblock` instead of `encoderblock_{i}`.
    # Checkpoints convert between the two layouts on load (vivit/formats/layer_stacking.py).
    model.scan_layers = False

    return ml_collections.ConfigDict(
        {
            # vivit_classification | vivit_multihead_classification |
            # vivit_multilabel_classification | cvt_classification (images; vivit.tasks)
            "model_name": "vivit_classification",
            # Activation dtype (parameters stay float32): float32 | bfloat16.
            "model_dtype_str": "float32",
            "model": model,
        }
    )
