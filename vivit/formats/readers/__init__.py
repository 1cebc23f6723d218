"""Finds a checkpoint's format and reads it into one Scenic-named `CheckpointView`."""

from __future__ import annotations

import zipfile
from typing import Callable, Optional

from vivit import storage
from vivit.formats.errors import CheckpointError
from vivit.formats.layer_stacking import stacked_prefixes, unstack_layers
from vivit.formats.readers.flax_msgpack import read_scenic_checkpoint
from vivit.formats.readers.huggingface import WEIGHT_FILES, is_hf_dir, read_huggingface
from vivit.formats.readers.npz import is_big_vision_layout, read_big_vision_npz, read_vit_npz
from vivit.formats.readers.orbax_dir import is_orbax_dir, read_orbax
from vivit.formats.view import CheckpointView

READERS: dict[str, Callable[[str], CheckpointView]] = {
    "vit_npz": read_vit_npz,
    "big_vision": read_big_vision_npz,
    "scenic": read_scenic_checkpoint,
    "orbax": read_orbax,
    "huggingface": read_huggingface,
}
# msgpack's first byte for a map (fixmap 0x80-0x8f, map16 0xde, map32 0xdf).
_MSGPACK_MAP_BYTES = set(range(0x80, 0x90)) | {0xDE, 0xDF}


def _detect_file(path: str) -> str:
    with storage.open_for_reading(path) as handle:
        head = handle.read(4)
    if head[:2] == b"PK" or path.endswith(".npz"):
        try:
            with storage.open_for_reading(path) as handle, zipfile.ZipFile(handle) as archive:
                names = [n[:-4] if n.endswith(".npy") else n for n in archive.namelist()]
        except zipfile.BadZipFile as err:
            raise CheckpointError(
                f"'{path}' looks like an .npz archive but cannot be opened: the file is truncated "
                "or corrupt.") from err
        return "big_vision" if is_big_vision_layout(names) else "vit_npz"
    if storage.basename(path) in WEIGHT_FILES or path.endswith(".safetensors"):
        return "huggingface"
    if head and head[0] in _MSGPACK_MAP_BYTES:
        return "scenic"
    raise CheckpointError(
        f"Unknown checkpoint format for file '{path}': not an .npz archive, a Flax msgpack "
        "checkpoint or a Hugging Face weight file. Set init_from.checkpoint_format if it is one.")


def detect_format(path: str) -> str:
    """Names the format of the file or directory at `path`; raises CheckpointError if unknown."""
    if not storage.exists(path):
        raise CheckpointError(f"Checkpoint '{path}' does not exist (init_from.checkpoint_path).")
    if storage.isfile(path):
        return _detect_file(path)
    if is_hf_dir(path):
        return "huggingface"
    if is_orbax_dir(path):
        return "orbax"
    if any(n.startswith("checkpoint_") or n == "checkpoint" for n in storage.listdir(path)):
        return "scenic"
    raise CheckpointError(
        f"No checkpoint for the pretrained model is found in '{path}': it holds no Orbax "
        "checkpoint, no Scenic checkpoint_<step> file, and no Hugging Face config.json with "
        f"{' / '.join(WEIGHT_FILES)}.")


def read_checkpoint(path: str, checkpoint_format: Optional[str] = None) -> CheckpointView:
    """Reads `path` (format detected unless given) into a Scenic-named flat view, blocks one
    per layer (`encoderblock_{i}`) whatever layout the file stores."""
    path = storage.expand(str(path))  # A gs:// URL stays as it is.
    if not storage.exists(path):
        raise CheckpointError(f"Checkpoint '{path}' does not exist (init_from.checkpoint_path).")
    fmt = checkpoint_format or detect_format(path)
    if fmt not in READERS:
        raise CheckpointError(
            f"Unknown init_from.checkpoint_format '{fmt}' for '{path}'; known: {sorted(READERS)}.")
    view = READERS[fmt](path)
    if stacked_prefixes(view.params):  # A scanned run or a big_vision scan=True file.
        view.params = unstack_layers(view.params)
        view.notes.append("Stacked (scanned) encoder blocks split into encoderblock_{i}.")
    return view
