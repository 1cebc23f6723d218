"""Checkpoints: read ViT/ViViT checkpoints in their upstream formats and initialise our models.

`initialise(params, config)` is the trainer's entry point; `read_checkpoint(path)` gives the flat,
Scenic-named view of any supported file; `python -m vivit.checkpoints info PATH` inspects one.
"""

from vivit.checkpoints.errors import CheckpointError
from vivit.checkpoints.initialise import InitReport, initialise, initialise_from_view
from vivit.checkpoints.readers import detect_format, read_checkpoint
from vivit.checkpoints.view import CheckpointView

__all__ = [
    "CheckpointError",
    "CheckpointView",
    "InitReport",
    "detect_format",
    "initialise",
    "initialise_from_view",
    "read_checkpoint",
]
