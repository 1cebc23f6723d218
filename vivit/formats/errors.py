"""The one error type for checkpoints that cannot be read, adapted or written."""

from __future__ import annotations

# The optional extra (pyproject.toml) that installs transformers and torch, which reading
# pytorch_model.bin files and writing Hugging Face ViViT need.
INSTALL_HF = "pip install -e '.[hf]'"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or used; the message names the file and parameter path."""
