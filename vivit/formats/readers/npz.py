"""Readers for `.npz` checkpoints: the ViT releases and big_vision.

Both store one flat archive of '/'-joined names. google-research/vision_transformer files (the
ImageNet-21k ViT-B/16, L/16, H/14 and AugReg releases) use pre-Linen module numbering
(`MultiHeadDotProductAttention_1`, `LayerNorm_2`, `MlpBlock_3`) and keep the posemb, class slot
included, at `Transformer/posembed_input/pos_embedding`. big_vision files may prefix names with
`params/` (optimizer state under `opt/`, ignored) and add the posemb *before* concatenating the
class token, so its posemb (`pos_embedding`) has no class slot.
"""

from __future__ import annotations

import zipfile

import numpy as np
from flax.training import checkpoints as flax_checkpoints

from vivit import storage
from vivit.formats.errors import CheckpointError
from vivit.formats.view import CheckpointView, FlatParams, flatten, unflatten

# Prefixes under which the parameters of a whole training state live, most specific first.
_PARAM_PREFIXES = ("opt/target/", "params/")


def load_npz(path: str) -> FlatParams:
    """All arrays of an .npz archive, read eagerly so a truncated file fails here, by name."""
    try:
        with storage.open_for_reading(path) as handle, \
                np.load(handle, allow_pickle=False) as archive:
            return {name: np.asarray(archive[name]) for name in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        raise CheckpointError(
            f"Cannot read '{path}' as an .npz archive: the file is truncated or corrupt "
            f"({type(err).__name__}: {err})."
        ) from err


def _strip_training_state(arrays: FlatParams) -> FlatParams:
    """Keeps only the parameters of a (possibly whole training-state) archive."""
    for prefix in _PARAM_PREFIXES:
        if any(name.startswith(prefix) for name in arrays):
            return {n[len(prefix):]: a for n, a in arrays.items() if n.startswith(prefix)}
    # Optimizer state never initializes a model.
    return {n: a for n, a in arrays.items() if not n.startswith("opt/")}


def _to_linen_names(arrays: FlatParams) -> FlatParams:
    # convert_pre_linen renumbers submodules per class (LayerNorm_0/_2 -> _0/_1); already-Linen
    # trees come back unchanged.
    return flatten(flax_checkpoints.convert_pre_linen(unflatten(arrays)))


def _head_to_output_projection(params: FlatParams) -> FlatParams:
    return {("output_projection" + n[len("head"):] if n.split("/")[0] == "head" else n): a
            for n, a in params.items()}


def is_big_vision_layout(names) -> bool:
    """big_vision keeps the posemb at the top (or, in older files, directly under Transformer)."""
    stripped = {n.split("/", 1)[1] if n.startswith(("params/",)) else n for n in names}
    return "pos_embedding" in stripped or "Transformer/pos_embedding" in stripped


def read_vit_npz(path: str) -> CheckpointView:
    """A google-research/vision_transformer .npz -> Scenic-named view."""
    params = _strip_training_state(load_npz(path))
    if "Transformer/posembed_input/pos_embedding" not in params:
        raise CheckpointError(
            f"'{path}' is not a vision_transformer ViT .npz: it has no "
            "'Transformer/posembed_input/pos_embedding' (big_vision files keep it at "
            "'pos_embedding': set init_from.checkpoint_format='big_vision')."
        )
    params = _head_to_output_projection(_to_linen_names(params))
    return CheckpointView(path=path, format="vit_npz", params=params)


def read_big_vision_npz(path: str) -> CheckpointView:
    """A big_vision ViT .npz -> Scenic-named view (posemb moved, class slot added)."""
    params = _strip_training_state(load_npz(path))
    # big_vision's scan=True files stack the blocks; read_checkpoint unstacks them.
    params = _to_linen_names(params)
    notes = []
    posemb = params.pop("pos_embedding", None)
    if posemb is None:
        posemb = params.pop("Transformer/pos_embedding", None)
    if posemb is None:
        raise CheckpointError(
            f"'{path}' is not a big_vision ViT .npz: no 'pos_embedding' or "
            "'Transformer/pos_embedding' (a vision_transformer file keeps it at "
            "'Transformer/posembed_input/pos_embedding': set init_from.checkpoint_format='vit_npz')."
        )
    n_tokens = posemb.shape[1]
    grid_side = int(round(np.sqrt(n_tokens)))
    if "cls" in params and grid_side * grid_side == n_tokens:
        # big_vision adds the posemb before the class token, i.e. a zero posemb for its slot.
        posemb = np.concatenate([np.zeros_like(posemb[:, :1]), posemb], axis=1)
        notes.append("big_vision posemb has no class-token slot: inserted a zero one (exact).")
    params["Transformer/posembed_input/pos_embedding"] = posemb
    dropped = sorted({n.split("/")[0] for n in params if n.startswith("MAPHead")})
    if dropped:
        notes.append(f"Ignored {', '.join(dropped)} (attention-pooling head; ViViT has none).")
    params = {n: a for n, a in params.items() if not n.startswith("MAPHead")}
    params = _head_to_output_projection(params)
    return CheckpointView(path=path, format="big_vision", params=params, notes=notes)
