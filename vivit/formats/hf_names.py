"""Name and layout mapping between Hugging Face ViT/ViViT state dicts and Scenic's tree.

Both directions live here so the reader and the exporter cannot disagree. PyTorch Linear weights
are [out, in]; Flax Dense kernels are [in, out], and Flax attention splits heads:
query/key/value kernels [D, heads, D/heads], the output kernel [heads, D/heads, D].
Files on the Hub and those `save_pretrained` writes use the names in `_LEGACY_BLOCK`;
transformers 5 modules use those in `_MODULE_BLOCK`; both are read.
"""

from __future__ import annotations

import re

import numpy as np

from vivit.formats.errors import CheckpointError
from vivit.formats.view import FlatParams

_ATTENTION = "MultiHeadDotProductAttention_0"

# Per-block suffix -> Scenic path inside encoderblock_{i}.
_LEGACY_BLOCK = {
    "attention.attention.query": f"{_ATTENTION}/query",
    "attention.attention.key": f"{_ATTENTION}/key",
    "attention.attention.value": f"{_ATTENTION}/value",
    "attention.output.dense": f"{_ATTENTION}/out",
    "layernorm_before": "LayerNorm_0",
    "layernorm_after": "LayerNorm_1",
    "intermediate.dense": "MlpBlock_0/Dense_0",
    "output.dense": "MlpBlock_0/Dense_1",
}
_MODULE_BLOCK = {
    "attention.q_proj": f"{_ATTENTION}/query",
    "attention.k_proj": f"{_ATTENTION}/key",
    "attention.v_proj": f"{_ATTENTION}/value",
    "attention.o_proj": f"{_ATTENTION}/out",
    "layernorm_before": "LayerNorm_0",
    "layernorm_after": "LayerNorm_1",
    "mlp.fc1": "MlpBlock_0/Dense_0",
    "mlp.fc2": "MlpBlock_0/Dense_1",
}
_BLOCK = re.compile(r"^(?:encoder\.layer|layers)\.(\d+)\.(.+)\.(weight|bias)$")
_TOP = {
    "embeddings.cls_token": "cls",
    "embeddings.position_embeddings": "Transformer/posembed_input/pos_embedding",
    "embeddings.patch_embeddings.projection.weight": "embedding/kernel",
    "embeddings.patch_embeddings.projection.bias": "embedding/bias",
    "layernorm.weight": "Transformer/encoder_norm/scale",
    "layernorm.bias": "Transformer/encoder_norm/bias",
    "pooler.dense.weight": "pre_logits/kernel",
    "pooler.dense.bias": "pre_logits/bias",
    "classifier.weight": "output_projection/kernel",
    "classifier.bias": "output_projection/bias",
}
_MODEL_PREFIXES = ("vivit.", "vit.")


def _block_leaf(scenic_module: str, kind: str) -> str:
    if kind == "bias":
        return "bias"
    return "scale" if "LayerNorm" in scenic_module else "kernel"


def _to_scenic_block(module: str, kind: str, value: np.ndarray, num_heads: int) -> np.ndarray:
    if "LayerNorm" in module:
        return value
    if module.endswith(("/query", "/key", "/value")):
        width = value.shape[0]
        head_dim = width // num_heads
        return value.reshape(num_heads, head_dim) if kind == "bias" else (
            value.T.reshape(-1, num_heads, head_dim))
    if module.endswith("/out"):
        return value if kind == "bias" else value.T.reshape(num_heads, -1, value.shape[0])
    return value if kind == "bias" else value.T  # MLP Dense layers.


def _to_scenic_top(name: str, value: np.ndarray) -> np.ndarray:
    if name == "embeddings.patch_embeddings.projection.weight":
        # [D, C, (t,) h, w] -> [(t,) h, w, C, D]
        return np.moveaxis(np.moveaxis(value, 0, -1), 0, -2)
    if name in ("pooler.dense.weight", "classifier.weight"):
        return value.T
    return value


def hf_to_scenic(state: FlatParams, num_heads: int, source: str) -> FlatParams:
    """A Hugging Face ViT/ViViT state dict -> Scenic-named flat params."""
    out: FlatParams = {}
    for full_name, value in state.items():
        name = full_name
        for prefix in _MODEL_PREFIXES:
            if name.startswith(prefix):
                name = name[len(prefix):]
        if name in _TOP:
            out[_TOP[name]] = _to_scenic_top(name, value)
            continue
        match = _BLOCK.match(name)
        module = match and (_LEGACY_BLOCK.get(match.group(2)) or _MODULE_BLOCK.get(match.group(2)))
        if not module:
            raise CheckpointError(
                f"'{source}': tensor '{full_name}' has no counterpart in the Scenic ViViT tree "
                "(supported: ViTModel, ViTForImageClassification, VivitModel, "
                "VivitForVideoClassification).")
        layer, _, kind = match.groups()
        leaf = _block_leaf(module, kind)
        out[f"Transformer/encoderblock_{layer}/{module}/{leaf}"] = _to_scenic_block(
            module, kind, value, num_heads)
    return out


def scenic_to_hf_vivit(params: FlatParams) -> FlatParams:
    """Scenic Model 1 flat params -> a VivitForVideoClassification state dict (legacy names)."""
    out: FlatParams = {}
    top = {scenic: hf for hf, scenic in _TOP.items()}
    block = {scenic: hf for hf, scenic in _LEGACY_BLOCK.items()}
    pattern = re.compile(r"^Transformer/encoderblock_(\d+)/(.+)/(kernel|scale|bias)$")
    for name, value in params.items():
        if name in top:
            hf = top[name]
            if name == "embedding/kernel":  # [t, h, w, C, D] -> [D, C, t, h, w]
                value = np.moveaxis(np.moveaxis(value, -1, 0), -1, 1)
            elif name.endswith("/kernel"):
                value = value.T
            prefix = "" if hf.startswith("classifier") else "vivit."
            out[prefix + hf] = value
            continue
        match = pattern.match(name)
        if not match or match.group(2) not in block:
            raise ValueError(f"Parameter '{name}' has no Hugging Face ViViT counterpart "
                             "(only Model 1 with a class token and no pre_logits exports).")
        layer, module, leaf = match.groups()
        kind = "bias" if leaf == "bias" else "weight"
        if leaf == "kernel":
            if module.endswith(("/query", "/key", "/value")):
                value = value.reshape(value.shape[0], -1).T
            elif module.endswith("/out"):
                value = value.reshape(-1, value.shape[-1]).T
            else:
                value = value.T
        elif leaf == "bias" and value.ndim == 2:
            value = value.reshape(-1)
        out[f"vivit.encoder.layer.{layer}.{block[module]}.{kind}"] = value
    return out
