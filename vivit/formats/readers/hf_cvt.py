"""Hugging Face CvT (`CvtForImageClassification`, `CvtModel`) -> our `CvTClassifier` names.

The result is flat (`encoder/stage_0_patch_embed/kernel`, `head/kernel`). BatchNorm's running
statistics are folded into the depthwise projection (`_fold_batch_norm`), because our CvT keeps
BatchNorm in its inference form (see `vivit.models.cvt`).
"""

from __future__ import annotations

import re

import numpy as np

from vivit.formats.errors import CheckpointError
from vivit.formats.view import FlatParams

BATCH_NORM_EPS = 1e-5  # torch.nn.BatchNorm2d's default, which the reference uses.


def _linear(state: FlatParams, src: str, dst: str, out: FlatParams) -> None:
    out[f"{dst}/kernel"] = state[f"{src}.weight"].T
    if f"{src}.bias" in state:
        out[f"{dst}/bias"] = state[f"{src}.bias"]


def _norm(state: FlatParams, src: str, dst: str, out: FlatParams) -> None:
    out[f"{dst}/scale"] = state[f"{src}.weight"]
    out[f"{dst}/bias"] = state[f"{src}.bias"]


def _fold_batch_norm(state: FlatParams, src: str, dst: str, out: FlatParams) -> None:
    """Depthwise conv + BatchNorm (eval) -> kernel [k, k, 1, c] and a per-channel affine.

    The normalization 1 / sqrt(var + eps) goes into the kernel; gamma stays the trainable scale
    and beta - gamma * mean / sqrt(var + eps) the bias, so the output is unchanged.
    """
    kernel = state[f"{src}.convolution.weight"]  # [c, 1, k, k]
    bn = f"{src}.normalization"
    inv_std = 1.0 / np.sqrt(state[f"{bn}.running_var"] + BATCH_NORM_EPS)
    out[f"{dst}/conv/kernel"] = kernel.transpose(2, 3, 1, 0) * inv_std
    out[f"{dst}/scale"] = state[f"{bn}.weight"]
    out[f"{dst}/bias"] = state[f"{bn}.bias"] - state[f"{bn}.weight"] * state[f"{bn}.running_mean"] * inv_std


def hf_cvt_to_flat(state: FlatParams, directory: str) -> FlatParams:
    """HF CvT state dict (float32 numpy) -> flat `CvTClassifier` params (head only if present)."""
    state = {k.removeprefix("cvt."): v for k, v in state.items()}
    out: FlatParams = {}
    stage_ids = sorted({int(m.group(1)) for k in state
                        if (m := re.match(r"encoder\.stages\.(\d+)\.", k))})
    if not stage_ids:
        raise CheckpointError(f"'{directory}' holds no CvT weights (no encoder.stages.*).")
    try:
        for i in stage_ids:
            src, dst = f"encoder.stages.{i}", f"encoder/stage_{i}"
            if f"{src}.cls_token" in state:
                out[f"{dst}_cls"] = state[f"{src}.cls_token"]
            emb = f"{src}.embedding.convolution_embeddings"
            out[f"{dst}_patch_embed/kernel"] = state[f"{emb}.projection.weight"].transpose(2, 3, 1, 0)
            out[f"{dst}_patch_embed/bias"] = state[f"{emb}.projection.bias"]
            _norm(state, f"{emb}.normalization", f"{dst}_patch_norm", out)
            layers = sorted({int(m.group(1)) for k in state
                             if (m := re.match(rf"{re.escape(src)}\.layers\.(\d+)\.", k))})
            for j in layers:
                lsrc, ldst = f"{src}.layers.{j}", f"{dst}_block_{j}"
                _norm(state, f"{lsrc}.layernorm_before", f"{ldst}/norm_before", out)
                _norm(state, f"{lsrc}.layernorm_after", f"{ldst}/norm_after", out)
                _linear(state, f"{lsrc}.intermediate.dense", f"{ldst}/mlp_in", out)
                _linear(state, f"{lsrc}.output.dense", f"{ldst}/mlp_out", out)
                _linear(state, f"{lsrc}.attention.output.dense", f"{ldst}/attention/out", out)
                att = f"{lsrc}.attention.attention"
                for name in ("query", "key", "value"):
                    _linear(state, f"{att}.projection_{name}", f"{ldst}/attention/{name}", out)
                    _fold_batch_norm(state, f"{att}.convolution_projection_{name}.convolution_projection",
                                     f"{ldst}/attention/conv_{name}", out)
        if "layernorm.weight" in state:
            _norm(state, "layernorm", "encoder/norm", out)
        if "classifier.weight" in state:
            _linear(state, "classifier", "head", out)
    except KeyError as err:
        raise CheckpointError(f"'{directory}' is not a complete CvT checkpoint: {err} is missing.") from err
    return out
