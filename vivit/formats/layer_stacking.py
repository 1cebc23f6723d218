"""Converts encoder blocks between Scenic's per-layer layout and the scanned (stacked) layout.

Per-layer: `.../encoderblock_{i}/...` (Scenic, ViT .npz, Hugging Face, unscanned runs).
Stacked: `.../encoderblock/...` with a leading layer axis (`model.scan_layers=True`, big_vision's
`scan=True`). Files store either layout, so it lives beside the readers: checkpoint views are
always per-layer, and a scanned model converts at its boundary (`vivit.pretrained.initialize`).
Works on flat `{'a/b/c': array}` dicts (numpy or jax arrays) with any prefix before the block.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import flax
import jax
import jax.numpy as jnp
import numpy as np

from vivit.formats.errors import CheckpointError

PER_LAYER = re.compile(r"^(?:(.+)/)?encoderblock_(\d+)/(.+)$")
STACKED = re.compile(r"^(?:(.+)/)?encoderblock/(.+)$")


def _join(prefix: str | None, *parts: str) -> str:
    return "/".join(([prefix] if prefix else []) + list(parts))


def stacked_prefixes(flat: Mapping[str, Any]) -> set[str]:
    """The encoders (path before `encoderblock`, '' at the top) whose blocks are stacked."""
    return {m.group(1) or "" for p in flat if (m := STACKED.match(p))}


def per_layer_prefixes(flat: Mapping[str, Any]) -> set[str]:
    """The encoders whose blocks are stored one per layer (`encoderblock_{i}`)."""
    return {m.group(1) or "" for p in flat if (m := PER_LAYER.match(p))}


def unstack_layers(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Stacked `P/encoderblock/rest` [layers, ...] -> `P/encoderblock_{i}/rest` [...]."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        match = STACKED.match(path)
        if match is None:
            out[path] = value
            continue
        prefix, rest = match.groups()
        for layer in range(value.shape[0]):
            out[_join(prefix, f"encoderblock_{layer}", rest)] = value[layer]
    return out


def _stack(values: list[Any]) -> Any:
    if any(isinstance(v, jax.Array) for v in values):
        return jnp.stack(values)
    return np.stack([np.asarray(v) for v in values])


def stack_layers(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Per-layer `P/encoderblock_{i}/rest` -> `P/encoderblock/rest` [layers, ...].

    Raises CheckpointError when an encoder's layers are not 0..n-1 with the same parameters each.
    """
    out: dict[str, Any] = {}
    groups: dict[tuple[str, str], dict[int, Any]] = {}
    layers_of: dict[str, set[int]] = {}
    for path, value in flat.items():
        match = PER_LAYER.match(path)
        if match is None:
            out[path] = value
            continue
        prefix, layer, rest = match.group(1) or "", int(match.group(2)), match.group(3)
        groups.setdefault((prefix, rest), {})[layer] = value
        layers_of.setdefault(prefix, set()).add(layer)
    for (prefix, rest), by_layer in groups.items():
        layers = layers_of[prefix]
        if set(by_layer) != layers or layers != set(range(len(layers))):
            raise CheckpointError(
                f"Cannot stack the blocks of '{prefix or '<top>'}': layers {sorted(layers)} do "
                f"not all hold '{rest}' (stacking needs layers 0..n-1 with the same parameters).")
        out[_join(prefix or None, "encoderblock", rest)] = _stack(
            [by_layer[layer] for layer in range(len(layers))])
    return out


def like_layout(flat: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    """`flat` in the layout of `target`: stacked exactly when `target` has stacked blocks."""
    per_layer = unstack_layers(flat)
    return stack_layers(per_layer) if stacked_prefixes(target) else per_layer


def tree_like_layout(tree: Any, target: Any) -> Any:
    """Nested params `tree` converted to the layout of nested params `target` (same container
    type as `tree`: a FrozenDict stays frozen)."""
    frozen = isinstance(tree, flax.core.FrozenDict)
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(tree), sep="/")
    flat_target = flax.traverse_util.flatten_dict(flax.core.unfreeze(target), sep="/")
    new = flax.traverse_util.unflatten_dict(like_layout(flat, flat_target), sep="/")
    return flax.core.freeze(new) if frozen else new
