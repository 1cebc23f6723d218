"""Declares the training-loop keys of the config (optimiser, schedule, batch, logging)."""

from __future__ import annotations

import ml_collections


def train_defaults() -> ml_collections.ConfigDict:
    """Top-level training keys at their defaults."""
    return ml_collections.ConfigDict({"batch_size": 64, "rng_seed": 0})
