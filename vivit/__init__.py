"""vivit: ViViT video transformers in JAX/Flax, compatible with Scenic's ViViT."""

__version__ = "0.1.0"
