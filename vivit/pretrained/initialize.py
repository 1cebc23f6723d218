"""`initialize(params, config)`: restore what `config.init_from` names into fresh model params.

The trainer calls this once, at step 0, on the params `model.init` made. Every parameter the
checkpoint provides is copied or adapted (posemb length, tubelet kernel, Model 3's split attention);
everything else keeps its fresh init, and the log says which is which. Nothing is written to disk.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any, Optional

import flax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vivit.formats.errors import CheckpointError
from vivit.formats.layer_stacking import like_layout, unstack_layers
from vivit.formats.readers import read_checkpoint
from vivit.formats.view import CheckpointView
from vivit.models.attention_types import get_attention_type
from vivit.pretrained.kernel import adapt_embedding_kernel
from vivit.pretrained.posemb import SIZE_CHANGES, TargetGrid, adapt_posemb

log = logging.getLogger(__name__)

_BLOCK = re.compile(r"^encoderblock_(\d+)/(.+)$")
# A standard (Model 1/2/4, ViT) block's modules -> Model 3's (factorized self-attention) names.
_MODEL3_FROM_STANDARD = {"LayerNorm_1": "LayerNorm_mlp", "MlpBlock_0": "MlpBlock"}
TEMPORAL_ATTENTION_INITS = ("zero", "copy_spatial")


@dataclasses.dataclass
class InitReport:
    """What `initialize` did, for logs, the CLI and tests."""

    restored: list[str] = dataclasses.field(default_factory=list)
    adapted: dict[str, str] = dataclasses.field(default_factory=dict)
    unused: list[str] = dataclasses.field(default_factory=list)
    fresh: list[str] = dataclasses.field(default_factory=list)


class _Plan:
    """Collects the new values for target parameter paths, checking every shape."""

    def __init__(self, target: dict[str, Any], view: CheckpointView):
        self.target = target
        self.view = view
        self.updates: dict[str, np.ndarray] = {}
        self.report = InitReport()

    def put(self, path: str, value: np.ndarray, source: str, how: Optional[str] = None) -> None:
        if path not in self.target:
            raise CheckpointError(
                f"'{self.view.path}': parameter '{source}' has no place in the model (no "
                f"'{path}'); the checkpoint's architecture does not match the config's model.")
        want = tuple(self.target[path].shape)
        if tuple(value.shape) != want:
            raise CheckpointError(
                f"'{self.view.path}': parameter '{source}' has shape {tuple(value.shape)}, the "
                f"model's '{path}' has {want}; set the model config (hidden_size, mlp_dim, "
                "num_heads, patches.size) to the checkpoint's.")
        self.updates[path] = value
        if how:
            self.report.adapted[path] = how
        else:
            self.report.restored.append(path)


def target_grid(config: ml_collections.ConfigDict) -> Optional[TargetGrid]:
    """The model's frames x height x width token grid, from the model and dataset config."""
    try:
        crop = config.dataset_configs.crop_size
        crop_h, crop_w = (crop, crop) if isinstance(crop, int) else tuple(crop)
        size = tuple(config.model.patches.size)
        encoding = config.model.temporal_encoding_config
        if encoding.method == "temporal_sampling":
            frames = int(encoding.n_sampled_frames)
        else:
            frames = int(config.dataset_configs.num_frames) // int(size[2])
        return TargetGrid(frames=frames, height=crop_h // size[0], width=crop_w // size[1])
    except (AttributeError, KeyError, TypeError, IndexError, ValueError):
        return None


def _group(params: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {p[len(prefix) + 1:]: v for p, v in params.items() if p.startswith(prefix + "/")}


def _block_ids(paths) -> set[int]:
    return {int(m.group(1)) for p in paths if (m := _BLOCK.match(p))}


def _check_depth(plan: _Plan, source_enc: str, target_enc: str, source_group: dict) -> None:
    have = _block_ids(source_group)
    want = _block_ids(p[len(target_enc) + 1:] for p in plan.target if p.startswith(target_enc + "/"))
    if have != want:
        key = {"Transformer": "model.num_layers",
               "SpatialTransformer": "model.spatial_transformer.num_layers",
               "TemporalTransformer": "model.temporal_transformer.num_layers"}[target_enc]
        raise CheckpointError(
            f"'{plan.view.path}': the checkpoint's {source_enc} has {len(have)} encoder blocks, the "
            f"model's {target_enc} has {len(want)}; set {key}={len(have)}.")


def _init_model3_block(plan: _Plan, cfg, target_enc: str, block: str, module_leaf: str,
                       value: np.ndarray, source_path: str) -> None:
    """A standard block's module into Model 3's split block (paper or Scenic rule)."""
    module, leaf = module_leaf.split("/", 1)
    base = f"{target_enc}/{block}"
    if module == "MultiHeadDotProductAttention_0":
        if cfg.init_spatial_transformer:
            plan.put(f"{base}/MultiHeadDotProductAttention_space/{leaf}", value, source_path)
        if cfg.init_temporal_transformer:
            time_path = f"{base}/MultiHeadDotProductAttention_time/{leaf}"
            # temporal_attention_init is one of TEMPORAL_ATTENTION_INITS (_check_choices).
            if cfg.temporal_attention_init == "copy_spatial":
                plan.put(time_path, value, source_path, "copied from the spatial attention")
            elif leaf.startswith("out/"):  # "zero"
                plan.put(time_path, np.zeros(plan.target[time_path].shape, np.float32),
                         source_path, "zero (temporal attention starts as a residual)")
    elif module == "LayerNorm_0":
        if cfg.init_spatial_transformer:
            plan.put(f"{base}/LayerNorm_space/{leaf}", value, source_path)
        if cfg.init_temporal_transformer and cfg.init_temporal_layer_norm:
            plan.put(f"{base}/LayerNorm_time/{leaf}", value, source_path, "copied from LayerNorm_0")
    elif module in _MODEL3_FROM_STANDARD:
        plan.put(f"{base}/{_MODEL3_FROM_STANDARD[module]}/{leaf}", value, source_path)
    else:
        plan.report.unused.append(source_path)


def _init_encoder(plan: _Plan, config, source_enc: str, target_enc: str, *, temporal: bool,
                  source_cls: str, target_cls: str) -> None:
    cfg = config.init_from
    group = _group(plan.view.params, source_enc)
    _check_depth(plan, source_enc, target_enc, group)
    model3_target = any("MultiHeadDotProductAttention_space" in p for p in plan.target)
    for rest, value in group.items():
        source_path = f"{source_enc}/{rest}"
        target_path = f"{target_enc}/{rest}"
        if rest.startswith("posembed_input/"):
            if not cfg.restore_positional_embedding:
                continue
            if target_path not in plan.target:
                raise CheckpointError(f"'{plan.view.path}': the model has no '{target_path}'.")
            target_value = np.asarray(plan.target[target_path])
            grid = target_grid(config)
            if target_enc == "SpatialTransformer" and grid is not None:
                grid = TargetGrid(1, grid.height, grid.width)  # Per-frame encoder.
            adapted = adapt_posemb(
                value, target_value,
                source_has_cls=source_cls in plan.view.params,
                target_has_cls=target_cls in plan.target,
                method=cfg.positional_embed_size_change, grid=grid, temporal=temporal,
                name=f"'{plan.view.path}': {source_path}")
            how = None if adapted.shape == value.shape else (
                f"posemb {value.shape} -> {adapted.shape} "
                f"({'1d interpolation' if temporal else cfg.positional_embed_size_change})")
            plan.put(target_path, adapted, source_path, how)
            continue
        match = _BLOCK.match(rest)
        if match and model3_target and not temporal and target_path not in plan.target:
            _init_model3_block(plan, cfg, target_enc, f"encoderblock_{match.group(1)}",
                               match.group(2), value, source_path)
        else:
            plan.put(target_path, value, source_path)


def _init_heads(plan: _Plan, config) -> None:
    source = plan.view.params
    for name in ("pre_logits/kernel", "pre_logits/bias"):
        if name in source and name in plan.target:
            plan.put(name, source[name], name)
        elif name in source:
            plan.report.unused.append(name)
    wanted = config.init_from.restore_output_projection
    for name in ("output_projection/kernel", "output_projection/bias"):
        if name not in source or wanted is False:
            if name in source:
                plan.report.unused.append(name)
            continue
        fits = name in plan.target and tuple(plan.target[name].shape) == source[name].shape
        if fits or wanted:
            plan.put(name, source[name], name)
        else:
            log.info("Keeping the fresh %s: the checkpoint's %s is for another class count.",
                     name, source[name].shape)
            plan.report.unused.append(name)


def _check_choices(cfg: ml_collections.ConfigDict) -> None:
    if cfg.positional_embed_size_change not in SIZE_CHANGES:
        raise CheckpointError(
            f"init_from.positional_embed_size_change={cfg.positional_embed_size_change!r} is not "
            f"supported; use one of {SIZE_CHANGES}.")
    if cfg.temporal_attention_init not in TEMPORAL_ATTENTION_INITS:
        raise CheckpointError(
            f"init_from.temporal_attention_init={cfg.temporal_attention_init!r} is not supported;"
            f" use one of {TEMPORAL_ATTENTION_INITS}.")
    if cfg.restore_output_projection not in (None, True, False):
        raise CheckpointError(
            f"init_from.restore_output_projection={cfg.restore_output_projection!r} must be "
            "None, True or False.")


CVT_SOURCE = "encoder"  # The CvT image model's encoder, as `readers.hf_cvt` names it.


def _plan_cvt(target: dict[str, Any], view: CheckpointView, config) -> _Plan:
    """A CvT checkpoint -> the CvT image model (`encoder`, `head`) or the factorized encoder's
    per-frame CvT (`CvT`; its temporal transformer and head stay fresh)."""
    plan = _Plan(target, view)
    prefix = "CvT" if any(p.startswith("CvT/") for p in target) else CVT_SOURCE
    if not any(p.startswith(prefix + "/") for p in target):
        raise CheckpointError(
            f"'{view.path}' is a CvT checkpoint: it initializes the CvT image model or a "
            "factorized encoder with model.spatial_transformer.backbone='cvt-*', not this model.")
    method = config.model.temporal_encoding_config.kernel_init_method
    for path, value in view.params.items():
        if not path.startswith(CVT_SOURCE + "/"):
            continue
        target_path = prefix + path[len(CVT_SOURCE):]
        if path == f"{CVT_SOURCE}/stage_0_patch_embed/kernel" and target_path in target:
            # A factorised encoder on tubelets: the image kernel is inflated over time.
            kernel = adapt_embedding_kernel(value, np.asarray(target[target_path]), method,
                                            name=f"'{view.path}': {path}")
            plan.put(target_path, kernel, path, None if kernel.shape == value.shape else method)
        else:
            plan.put(target_path, value, path)
    restore_head = config.init_from.restore_output_projection
    head = {p: v for p, v in view.params.items() if p.startswith("head/")}
    if prefix == CVT_SOURCE and head and restore_head is not False:
        if restore_head or all(p in target and target[p].shape == v.shape for p, v in head.items()):
            for path, value in head.items():
                plan.put(path, value, path)
    plan.report.fresh = sorted(set(target) - set(plan.updates))
    return plan


def _plan(target: dict[str, Any], view: CheckpointView, config) -> _Plan:
    if view.has(CVT_SOURCE + "/stage_0_patch_embed"):
        return _plan_cvt(target, view, config)
    plan = _Plan(target, view)
    cfg = config.init_from
    _check_choices(cfg)
    source = view.params
    factorized = get_attention_type(config.model.attention_config.type).factorized_encoder
    target_enc = "SpatialTransformer" if factorized else "Transformer"
    target_cls = "cls_SpatialTransformer" if factorized else "cls"
    source_enc = "SpatialTransformer" if view.has("SpatialTransformer") else "Transformer"
    source_cls = "cls_SpatialTransformer" if source_enc == "SpatialTransformer" else "cls"
    if not view.has(source_enc):
        raise CheckpointError(
            f"'{view.path}' has no encoder ('Transformer' or 'SpatialTransformer'): it cannot "
            "initialize a ViViT model.")

    if cfg.restore_input_embedding and "embedding/kernel" in source:
        method = config.model.temporal_encoding_config.kernel_init_method
        kernel = adapt_embedding_kernel(source["embedding/kernel"],
                                        np.asarray(target["embedding/kernel"]), method,
                                        name=f"'{view.path}': embedding/kernel")
        plan.put("embedding/kernel", kernel, "embedding/kernel",
                 None if kernel.shape == source["embedding/kernel"].shape else method)
        plan.put("embedding/bias", source["embedding/bias"], "embedding/bias")

    spatial_wanted = cfg.init_spatial_transformer or not factorized
    if spatial_wanted:
        _init_encoder(plan, config, source_enc, target_enc, temporal=False,
                      source_cls=source_cls, target_cls=target_cls)
        if source_cls in source and target_cls in target:
            plan.put(target_cls, source[source_cls], source_cls)

    if view.has("TemporalTransformer"):
        if factorized and cfg.init_temporal_transformer:
            _init_encoder(plan, config, "TemporalTransformer", "TemporalTransformer",
                          temporal=True, source_cls="cls_TemporalTransformer",
                          target_cls="cls_TemporalTransformer")
            if "cls_TemporalTransformer" in source and "cls_TemporalTransformer" in target:
                plan.put("cls_TemporalTransformer", source["cls_TemporalTransformer"],
                         "cls_TemporalTransformer")
        else:
            plan.report.unused.append("TemporalTransformer")
    _init_heads(plan, config)
    used_prefixes = ("embedding", "pre_logits", "output_projection", source_enc, source_cls,
                     "TemporalTransformer", "cls_TemporalTransformer")
    plan.report.unused += sorted({p.split("/")[0] for p in source} - set(used_prefixes))
    plan.report.fresh = sorted(set(target) - set(plan.updates))
    return plan


def initialize_from_view(params: Any, view: CheckpointView,
                         config: ml_collections.ConfigDict) -> tuple[Any, InitReport]:
    """`params` with everything `view` provides restored and adapted, and a report."""
    frozen = isinstance(params, flax.core.FrozenDict)
    model_flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params), sep="/")
    # Plans are made in the per-layer layout (the view's); a scanned model is restacked after.
    target = unstack_layers(model_flat)
    plan = _plan(target, view, config)
    for path, value in plan.updates.items():
        target[path] = jnp.asarray(value, dtype=target[path].dtype)
    new = flax.traverse_util.unflatten_dict(like_layout(target, model_flat), sep="/")
    report = plan.report
    log.info("Initialized from %s (%s): %d restored, %d adapted, %d fresh.", view.path,
             view.format, len(report.restored), len(report.adapted), len(report.fresh))
    for path, how in sorted(report.adapted.items()):
        log.info("  adapted %s: %s", path, how)
    if report.fresh:
        log.info("  fresh init kept for: %s", ", ".join(report.fresh))
    if report.unused:
        log.info("  not used from the checkpoint: %s", ", ".join(report.unused))
    return (flax.core.freeze(new) if frozen else new), report


def initialize(params: Any, config: ml_collections.ConfigDict) -> Any:
    """Returns `params` with everything `config.init_from` names restored and adapted.

    With `init_from.checkpoint_path` None the params come back unchanged. Raises CheckpointError
    (naming the file and the parameter path) when the checkpoint cannot be read or adapted.
    """
    path = config.init_from.checkpoint_path
    if not path:
        return params
    view = read_checkpoint(path, config.init_from.checkpoint_format)
    for note in view.notes:
        log.info("%s: %s", view.path, note)
    new_params, _ = initialize_from_view(params, view, config)
    return new_params
