"""One flat view of a checkpoint's parameters, in Scenic's ViViT names, whatever the source format.

Every reader produces a `CheckpointView`; the adapters of `vivit.pretrained`, `initialize` and the
Hugging Face writer only ever see this view, so a new format needs a reader and nothing else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from flax import traverse_util
import numpy as np

FlatParams = dict[str, np.ndarray]


def flatten(tree: Mapping[str, Any]) -> FlatParams:
    """Nested dicts of arrays -> {'a/b/c': np.ndarray} (Scenic's path notation)."""
    flat = traverse_util.flatten_dict(dict(tree), sep="/")
    return {path: np.asarray(value) for path, value in flat.items()}


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{'a/b/c': value} -> nested dicts."""
    return traverse_util.unflatten_dict(dict(flat), sep="/")


@dataclasses.dataclass
class CheckpointView:
    """Parameters read from one checkpoint.

    `params` uses Scenic's names and layouts (see the brief): a posemb has a class-token slot
    exactly when the tree has a class token (`cls`, `cls_SpatialTransformer`), so a reader
    converts sources that add the class token after the posemb (big_vision).
    """

    path: str
    format: str
    params: FlatParams
    notes: list[str] = dataclasses.field(default_factory=list)

    def has(self, prefix: str) -> bool:
        """Whether any parameter path starts with `prefix`."""
        return any(p == prefix or p.startswith(prefix + "/") for p in self.params)

    def describe_model(self) -> str:
        """Which model this checkpoint is, and what it can initialize."""
        return describe_model(self.params)


def describe_model(params: Mapping[str, np.ndarray]) -> str:
    """Names the model family of a flat Scenic-named tree and what it can initialize."""
    kernel = params.get("embedding/kernel")
    if any(p.startswith("SpatialTransformer/") for p in params):
        temporal = any(p.startswith("TemporalTransformer/") for p in params)
        kind = "ViViT Model 2 (factorized encoder)" + ("" if temporal else ", no temporal encoder")
        return (f"{kind}: loads directly into Model 2; its spatial encoder can initialize "
                "Models 1-4 from the image-level weights only if the posemb is per frame.")
    if any("MultiHeadDotProductAttention_space" in p for p in params):
        return "ViViT Model 3 (factorized self-attention): loads directly into Model 3."
    if kernel is None or not any(p.startswith("Transformer/encoderblock_") for p in params):
        return "Not a ViT/ViViT parameter tree (no embedding/kernel or Transformer/encoderblock_*)."
    if kernel.ndim == 4:
        return ("2D image ViT (patch kernel {}): initializes every ViViT model (Models 1-4, "
                "3d_conv via kernel_init_method or temporal_sampling).".format(
                    "x".join(map(str, kernel.shape[:2]))))
    return ("ViViT Model 1 (tubelet {}): loads directly into Model 1 (spacetime); Model 4 "
            "(factorized_dot_product_attention) has the same tree without the class token.".format(
                "x".join(map(str, kernel.shape[:3]))))
