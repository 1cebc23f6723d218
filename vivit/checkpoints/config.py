"""Declares the `init_from.*` keys: which checkpoint initialises the model, and how."""

from __future__ import annotations

import ml_collections


def init_from_defaults() -> ml_collections.ConfigDict:
    """The `init_from` section at its defaults (no initialisation)."""
    return ml_collections.ConfigDict({"checkpoint_path": None})
