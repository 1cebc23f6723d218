"""Pretrained initialisation: read ViT/ViViT checkpoints in their upstream formats and initialise
our models from them.

`initialise(params, config)` is the trainer's entry point; `read_checkpoint(path)` gives the flat,
Scenic-named view of any supported file; `python -m vivit.pretrained info PATH` inspects one.
"""

from vivit.pretrained.errors import CheckpointError
from vivit.pretrained.initialise import InitReport, initialise, initialise_from_view
from vivit.pretrained.readers import detect_format, read_checkpoint
from vivit.pretrained.view import CheckpointView

__all__ = [
    "CheckpointError",
    "CheckpointView",
    "InitReport",
    "detect_format",
    "initialise",
    "initialise_from_view",
    "read_checkpoint",
]
