"""Reader for Orbax checkpoints, as this project's trainer writes them.

Accepts a training workdir (its `checkpoints/` folder), the checkpoint root (the latest numbered
step is read), one step directory (the item holding `params` is found), or an item directory
itself. Reading never writes anything.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from vivit import storage, workdir
from vivit.formats.errors import CheckpointError
from vivit.formats.view import CheckpointView, flatten

_ITEM_MARKERS = ("_METADATA", "manifest.ocdbt", "_sharding")


def is_item_dir(path: str) -> bool:
    """A directory written by one Orbax PyTree/Standard handler."""
    return any(storage.exists(storage.join(path, m)) for m in _ITEM_MARKERS)


def is_orbax_dir(path: str) -> bool:
    """An item dir, a step dir (holds _CHECKPOINT_METADATA or item dirs) or a root of steps."""
    if not storage.isdir(path):
        return False
    if is_item_dir(path) or storage.exists(storage.join(path, "_CHECKPOINT_METADATA")):
        return True
    steps = workdir.steps_in(path)
    if steps:
        return is_orbax_dir(storage.join(path, str(steps[-1])))
    return _workdir_checkpoints(path) is not None


def _workdir_checkpoints(path: str) -> str | None:
    """`<workdir>/checkpoints` when `path` is a training workdir holding Orbax steps."""
    root = storage.join(path, workdir.CHECKPOINT_DIR)
    return root if storage.isdir(root) and workdir.steps_in(root) else None


def _find_item(path: str) -> str:
    if is_item_dir(path):
        return path
    workdir_root = _workdir_checkpoints(path)
    if workdir_root is not None and not workdir.steps_in(path):
        return _find_item(workdir_root)
    steps = workdir.steps_in(path)
    if steps and not storage.exists(storage.join(path, "_CHECKPOINT_METADATA")):
        return _find_item(storage.join(path, str(steps[-1])))
    items = sorted(n for n in storage.listdir(path) if is_item_dir(storage.join(path, n)))
    for preferred in ("state", "params", "default"):
        if preferred in items:
            return storage.join(path, preferred)
    if len(items) == 1:
        return storage.join(path, items[0])
    raise CheckpointError(
        f"Cannot tell which Orbax item of '{path}' holds the parameters: found items {items} "
        "(expected one named 'state' or 'params'); point init_from.checkpoint_path at it."
    )


def _params_of(tree: Any, item: str) -> dict:
    if isinstance(tree, dict) and isinstance(tree.get("params"), dict):
        params = tree["params"]
        # A Linen variables dict ({'params': {...}}) nested inside a train state.
        return params["params"] if set(params) == {"params"} else params
    if isinstance(tree, dict) and ("embedding" in tree or "SpatialTransformer" in tree):
        return tree
    keys = sorted(tree) if isinstance(tree, dict) else type(tree).__name__
    raise CheckpointError(f"Orbax item '{item}' holds no 'params' tree (top level: {keys}).")


def read_orbax(path: str) -> CheckpointView:
    """Restores the parameters of an Orbax checkpoint as host numpy arrays."""
    item = _find_item(path)
    checkpointer = ocp.PyTreeCheckpointer()
    try:
        metadata = checkpointer.metadata(item)
        tree_meta = getattr(metadata, "item_metadata", None) or metadata
        tree_meta = getattr(tree_meta, "tree", tree_meta)
        restore_args = jax.tree_util.tree_map(
            lambda _: ocp.RestoreArgs(restore_type=np.ndarray), dict(tree_meta))
        tree = checkpointer.restore(item, restore_args=restore_args)
    except Exception as err:  # Orbax raises many types (ValueError, FileNotFoundError, ...).
        raise CheckpointError(
            f"Cannot restore the Orbax checkpoint '{item}': it is incomplete or corrupt "
            f"({type(err).__name__}: {err})."
        ) from err
    return CheckpointView(path=item, format="orbax", params=flatten(_params_of(tree, item)))
