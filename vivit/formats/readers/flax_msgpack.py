"""Reader for Flax msgpack checkpoints as Scenic writes them (`checkpoint_<step>` files).

Scenic's released ViViT and ViT models are `flax.training.checkpoints` files: one msgpack-serialised
training state whose parameters live under `params` (optax trainers) or `optimizer/target`
(flax.optim trainers; older ones nest a pre-Linen `params` tree below that).
"""

from __future__ import annotations

import re

import msgpack
from flax import serialization
from flax.training import checkpoints as flax_checkpoints

from vivit import storage
from vivit.formats.errors import CheckpointError
from vivit.formats.view import CheckpointView, flatten

_STEP_FILE = re.compile(r"^checkpoint_(\d+)$")


def latest_step_file(directory: str) -> str:
    """The `checkpoint_<step>` file with the highest step in `directory` (or its `checkpoint`)."""
    steps = [(int(m.group(1)), name) for name in storage.listdir(directory)
             if (m := _STEP_FILE.match(name))]
    if not steps and storage.isfile(storage.join(directory, "checkpoint")):
        return storage.join(directory, "checkpoint")  # Scenic's released models: no step suffix.
    if not steps:
        raise CheckpointError(
            f"No checkpoint for the pretrained model is found in '{directory}': expected files "
            "named checkpoint_<step> (Scenic/Flax), or point init_from.checkpoint_path at the file."
        )
    return storage.join(directory, max(steps)[1])


def _params_of_state(state: dict, path: str) -> dict:
    if "params" in state and isinstance(state["params"], dict):
        return state["params"]
    target = state.get("optimizer", {}).get("target") if isinstance(
        state.get("optimizer"), dict) else None
    if isinstance(target, dict):
        if "params" in target and isinstance(target["params"], dict):
            return flax_checkpoints.convert_pre_linen(target["params"])
        return target
    if "embedding" in state or "Transformer" in state or "SpatialTransformer" in state:
        return state  # A bare parameter tree.
    raise CheckpointError(
        f"'{path}' holds no parameters: looked for 'params', 'optimizer/target' and a bare "
        f"parameter tree; its top-level keys are {sorted(state)}."
    )


def read_scenic_checkpoint(path: str) -> CheckpointView:
    """A Flax/Scenic msgpack checkpoint file (or the directory of `checkpoint_<step>` files)."""
    file_path = latest_step_file(path) if storage.isdir(path) else path
    data = storage.read_bytes(file_path)
    try:
        state = serialization.msgpack_restore(data)
    except (msgpack.exceptions.ExtraData, msgpack.exceptions.UnpackException,
            ValueError, TypeError, KeyError) as err:
        raise CheckpointError(
            f"Cannot read '{file_path}' as a Flax msgpack checkpoint: the file is truncated or "
            f"corrupt ({type(err).__name__}: {err})."
        ) from err
    if not isinstance(state, dict):
        raise CheckpointError(f"'{file_path}' is msgpack but not a Flax checkpoint (no dict).")
    return CheckpointView(path=file_path, format="scenic",
                          params=flatten(_params_of_state(state, file_path)))
