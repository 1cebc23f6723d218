"""The one error type for checkpoints that cannot be read or adapted."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or used; the message names the file and parameter path."""
