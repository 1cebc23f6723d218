"""`build_model(config, task)`: the one entry point from an ml_collections config to a Flax module.

It checks the model keys first, so an impossible combination fails with the key to change rather
than with a shape error deep inside the network.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from vivit.config_keys import check_keys
from vivit.models.attention_types import AttentionType, get_attention_type
from vivit.models.backbones import get_backbone
from vivit.models.checks import check_clip_and_patches
from vivit.models.cvt import CVT_VARIANTS, CvTClassifier
from vivit.models.config import model_defaults
from vivit.models.embeddings import KERNEL_INIT_METHODS
from vivit.models.encoder import REMAT_POLICIES, TransformerSize
from vivit.models.classifiers import POOLING, FactorizedEncoderViViT, ViViT
from vivit.tasks import IMAGE, Task

CLASSIFIERS = ("token", "0") + tuple(POOLING)
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
TOKENIZERS = ("3d_conv", "temporal_sampling")
ATTENTION_IMPLEMENTATIONS = (None, "xla", "cudnn")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _one_of(value: Any, allowed: tuple, key: str) -> None:
    _require(value in allowed, f"{key}={value!r} is not supported; expected one of {allowed}.")


def _transformer_size(section: ml_collections.ConfigDict, key: str) -> TransformerSize:
    for field in ("num_layers", "num_heads", "mlp_dim"):
        value = section[field]
        _require(
            isinstance(value, int) and value > 0,
            f"{key}.{field} must be a positive integer, got {value!r}.",
        )
    return TransformerSize(section.num_layers, section.num_heads, section.mlp_dim)


def _check_heads(size: TransformerSize, hidden_size: int, key: str) -> None:
    _require(
        hidden_size % size.num_heads == 0,
        f"{key}.num_heads={size.num_heads} must divide model.hidden_size={hidden_size}.",
    )


def _check_rates(model: ml_collections.ConfigDict) -> None:
    for key in ("dropout_rate", "attention_dropout_rate", "stochastic_droplayer_rate"):
        rate = model[key]
        _require(0.0 <= rate < 1.0, f"model.{key}={rate!r} must be in [0, 1).")


def _check_remat(model: ml_collections.ConfigDict) -> None:
    _one_of(model.remat_policy, tuple(REMAT_POLICIES), "model.remat_policy")
    _require(
        model.remat or model.remat_policy == "full",
        f"model.remat_policy={model.remat_policy!r} takes effect only with model.remat=True.",
    )


def _common_kwargs(config: ml_collections.ConfigDict, num_outputs: int) -> dict[str, Any]:
    model = config.model
    encoding = model.temporal_encoding_config
    _one_of(config.model_dtype_str, tuple(DTYPES), "model_dtype_str")
    _one_of(model.classifier, CLASSIFIERS, "model.classifier")
    _one_of(encoding.method, TOKENIZERS, "model.temporal_encoding_config.method")
    _one_of(model.attention_config.implementation, ATTENTION_IMPLEMENTATIONS,
            "model.attention_config.implementation")
    _check_remat(model)
    _require(
        isinstance(model.hidden_size, int) and model.hidden_size > 0,
        f"model.hidden_size must be a positive integer, got {model.hidden_size!r}.",
    )
    patch_size = tuple(int(p) for p in model.patches.size)
    if encoding.method == "3d_conv":
        _require(
            len(patch_size) == 3,
            f"model.patches.size={patch_size} must be (h, w, t) for the tubelet embedding "
            "(temporal_encoding_config.method='3d_conv').",
        )
        if encoding.kernel_init_method is not None:
            _one_of(encoding.kernel_init_method, KERNEL_INIT_METHODS,
                    "model.temporal_encoding_config.kernel_init_method")
    else:
        _require(
            len(patch_size) == 2 or (len(patch_size) == 3 and patch_size[2] == 1),
            f"model.patches.size={patch_size} must be (h, w) for uniform frame sampling "
            "(temporal_encoding_config.method='temporal_sampling').",
        )
        n_sampled = encoding.n_sampled_frames
        _require(
            isinstance(n_sampled, int) and n_sampled > 0,
            "model.temporal_encoding_config.n_sampled_frames must be a positive integer for "
            f"temporal_sampling, got {n_sampled!r}.",
        )
    _require(all(p > 0 for p in patch_size), f"model.patches.size={patch_size} must be positive.")
    _check_rates(model)
    if model.representation_size is not None:
        _require(
            isinstance(model.representation_size, int) and model.representation_size > 0,
            f"model.representation_size must be None or a positive integer, "
            f"got {model.representation_size!r}.",
        )
    return dict(
        num_classes=num_outputs,
        hidden_size=model.hidden_size,
        patch_size=patch_size,
        tokenizer=encoding.method,
        kernel_init_method=encoding.kernel_init_method,
        num_sampled_frames=encoding.n_sampled_frames,
        classifier=model.classifier,
        representation_size=model.representation_size,
        dropout_rate=float(model.dropout_rate),
        attention_dropout_rate=float(model.attention_dropout_rate),
        stochastic_droplayer_rate=float(model.stochastic_droplayer_rate),
        attention_implementation=model.attention_config.implementation,
        return_prelogits=bool(model.return_prelogits),
        remat=bool(model.remat),
        remat_policy=model.remat_policy,
        scan_layers=bool(model.scan_layers),
        dtype=DTYPES[config.model_dtype_str],
    )


def _check_attention_type(config: ml_collections.ConfigDict, attention_type: AttentionType) -> None:
    if attention_type.check is not None:
        attention_type.check(config)


def spatial_backbone(config: ml_collections.ConfigDict) -> str:
    """Model 2's per-frame encoder: `model.spatial_transformer.backbone`, or the same choice under
    the shorter `model.spatial_backbone` (the two must not disagree)."""
    model = config.model
    alias, own = model.get("spatial_backbone"), model.spatial_transformer.backbone
    if alias is None:
        return own
    factorized = get_attention_type(model.attention_config.type).factorized_encoder
    _require(factorized, f"model.spatial_backbone={alias!r} is only read by the factorized "
             f"encoder (model.attention_config.type='factorized_encoder'), not "
             f"{model.attention_config.type!r}.")
    _require(own in ("vit", alias),
             f"model.spatial_backbone={alias!r} and model.spatial_transformer.backbone={own!r} "
             "disagree; set only one of them.")
    return alias


def _factorized_encoder(config: ml_collections.ConfigDict, common: dict[str, Any],
                        attention_type: AttentionType) -> nn.Module:
    model = config.model
    _check_attention_type(config, attention_type)
    name = spatial_backbone(config)
    backbone = get_backbone(name)  # Names an unregistered key.
    temporal = _transformer_size(model.temporal_transformer, "model.temporal_transformer")
    _check_heads(temporal, model.hidden_size, "model.temporal_transformer")
    extra = {}
    if not backbone.takes_pixels:  # A CvT has its own sizes: spatial_transformer.* is unused.
        spatial = _transformer_size(model.spatial_transformer, "model.spatial_transformer")
        _check_heads(spatial, model.hidden_size, "model.spatial_transformer")
        extra["spatial_size"] = spatial
    return FactorizedEncoderViViT(
        **extra,
        temporal_size=temporal,
        attention_type=model.attention_config.type,
        spatial_backbone=name,
        spatial_only_baseline=bool(model.attention_config.spatial_only_baseline),
        **common,
    )


def _single_encoder(config: ml_collections.ConfigDict, common: dict[str, Any],
                    attention_type: AttentionType) -> nn.Module:
    model = config.model
    attention = model.attention_config
    size = _transformer_size(model, "model")
    _check_heads(size, model.hidden_size, "model")
    if not attention_type.class_token:
        # E.g. the paper's Models 3 and 4: tokens must tile [time, space] exactly.
        _require(
            model.classifier not in ("token", "0"),
            f"model.classifier={model.classifier!r} is not allowed with attention_config.type="
            f"{attention.type!r}: it has no class token (as the paper's Models 3 and 4); use "
            "'gap', 'gmp' or 'gsp'.",
        )
    _check_attention_type(config, attention_type)
    return ViViT(
        size=size,
        attention_type=attention.type,
        attention_order=attention.attention_order,
        attention_kernel_init_method=attention.attention_kernel_init_method,
        return_preclassifier=bool(model.return_preclassifier),
        **common,
    )


def _cvt_classifier(config: ml_collections.ConfigDict, num_outputs: int) -> nn.Module:
    """model_name='cvt_classification': CvT `model.variant` over images [batch, h, w, 3]. Like
    Hugging Face's configs, stochastic depth acts in the last stage only."""
    model = config.model
    _one_of(model.get("variant"), tuple(CVT_VARIANTS), "model.variant")
    _one_of(config.model_dtype_str, ("float32",), "model_dtype_str (CvT computes in float32)")
    _check_rates(model)
    stages = CVT_VARIANTS[model.variant]
    last = dataclasses.replace(stages[-1], drop_path_rate=float(model.stochastic_droplayer_rate))
    return CvTClassifier(stages[:-1] + (last,), num_outputs,
                         float(model.dropout_rate), float(model.attention_dropout_rate))


def build_model(config: ml_collections.ConfigDict, task: Task) -> nn.Module:
    """Returns the Flax module that `config` describes, with the output layer of `task`
    (`vivit.tasks.task_for_config(config)`, built once by the caller).

    `module.apply(variables, video, train=False)` maps [batch, time, height, width, 3] to logits
    [batch, classes] (images [batch, height, width, 3] for model_name='cvt_classification');
    `train=True` needs `rngs={'dropout': key}`. Raises ValueError naming the
    config key when a `model.*` key is unknown or a value or combination is invalid.
    """
    # The model section's own keys (the whole config is checked by vivit.config.complete).
    check_keys(config.model, model_defaults().model, "model.")
    if task.inputs == IMAGE:
        return _cvt_classifier(config, task.num_outputs)
    variant = config.model.get("variant")
    _require(variant is None,
             f"model.variant={variant!r} is only read with model_name="
             "'cvt_classification'; a factorized encoder picks its CvT with "
             "model.spatial_transformer.backbone.")
    attention_type = get_attention_type(config.model.attention_config.type)
    common = _common_kwargs(config, task.num_outputs)
    # A backbone that embeds pixels itself (CvT) reads only the tubelet's time size.
    backbone = spatial_backbone(config)
    pixels = attention_type.factorized_encoder and get_backbone(backbone).takes_pixels
    check_clip_and_patches(config, spatial=not pixels)
    if attention_type.factorized_encoder:
        return _factorized_encoder(config, common, attention_type)
    return _single_encoder(config, common, attention_type)
