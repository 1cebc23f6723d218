"""ViViT models: `build_model(config, task)` returns the Flax module a config describes."""

from vivit.models.builder import build_model
from vivit.models.encoder import TransformerSize
from vivit.models.presets import apply_size, parse_size
from vivit.models.classifiers import FactorizedEncoderViViT, ViViT

__all__ = [
    "FactorizedEncoderViViT",
    "TransformerSize",
    "ViViT",
    "apply_size",
    "build_model",
    "parse_size",
]
