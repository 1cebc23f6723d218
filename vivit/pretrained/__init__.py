"""Pretrained initialization: adapt a checkpoint (read by `vivit.formats.readers`) to our models.

`initialize(params, config)` is the trainer's entry point; `detect_format` and `CheckpointError`
come from `vivit.formats`, where the readers live; `python -m vivit.pretrained info PATH`
inspects a file.

The names below are imported on first use: the readers pull in TensorFlow (through
flax.training.checkpoints), several seconds that `vivit.config`, which only needs
`vivit.pretrained.config`, must not pay at every command-line start.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "CheckpointError": "vivit.formats.errors",
    "InitReport": "vivit.pretrained.initialize",
    "detect_format": "vivit.formats.readers",
    "initialize": "vivit.pretrained.initialize",
    "initialize_from_view": "vivit.pretrained.initialize",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'vivit.pretrained' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
