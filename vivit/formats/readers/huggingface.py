"""Reader for Hugging Face transformers ViT, ViViT and CvT model directories.

A directory with `config.json` and `model.safetensors` (or a sharded `model.safetensors.index.json`,
or a legacy `pytorch_model.bin`), as `save_pretrained` writes and the Hub serves, e.g.
google/vit-base-patch16-224-in21k (ViTModel) or google/vivit-b-16x2-kinetics400
(VivitForVideoClassification).
"""

from __future__ import annotations

import io
import json

import numpy as np

from vivit import storage
from vivit.formats.errors import INSTALL_HF, CheckpointError
from vivit.formats.hf_names import hf_to_scenic
from vivit.formats.readers.hf_cvt import hf_cvt_to_flat
from vivit.formats.view import CheckpointView, FlatParams

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
_MODEL_TYPES = ("vit", "vivit", "cvt")


def is_hf_dir(path: str) -> bool:
    return storage.isdir(path) and storage.exists(storage.join(path, "config.json")) and any(
        storage.exists(storage.join(path, f)) for f in WEIGHT_FILES)


def _read_safetensors(path: str) -> FlatParams:
    from safetensors import SafetensorError
    from safetensors.numpy import load, load_file

    try:
        return load(storage.read_bytes(path)) if storage.is_url(path) else load_file(path)
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"Cannot read '{path}' as safetensors: the file is truncated or corrupt ({err})."
        ) from err


def _read_torch_bin(path: str) -> FlatParams:
    try:
        import torch
    except ImportError as err:
        raise CheckpointError(f"Reading '{path}' needs PyTorch: {INSTALL_HF}") from err
    try:
        source = io.BytesIO(storage.read_bytes(path)) if storage.is_url(path) else path
        state = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise CheckpointError(
            f"Cannot read '{path}' as a PyTorch state dict: the file is truncated or corrupt "
            f"({type(err).__name__}: {err})."
        ) from err
    return {k: v.detach().float().numpy() for k, v in state.items()}


def _read_weights(directory: str) -> FlatParams:
    single = storage.join(directory, "model.safetensors")
    index = storage.join(directory, "model.safetensors.index.json")
    if storage.exists(single):
        return _read_safetensors(single)
    if storage.exists(index):
        shards = sorted(set(json.loads(storage.read_text(index))["weight_map"].values()))
        state: FlatParams = {}
        for shard in shards:
            shard_path = storage.join(directory, shard)
            if not storage.exists(shard_path):
                raise CheckpointError(f"'{index}' names shard '{shard}', which is missing.")
            state.update(_read_safetensors(shard_path))
        return state
    return _read_torch_bin(storage.join(directory, "pytorch_model.bin"))


def read_config(directory: str) -> dict:
    path = storage.join(directory, "config.json")
    try:
        config = json.loads(storage.read_text(path))
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"Cannot read '{path}': {err}.") from err
    if config.get("model_type") not in _MODEL_TYPES:
        raise CheckpointError(
            f"'{path}' has model_type={config.get('model_type')!r}; only {_MODEL_TYPES} load.")
    return config


def read_huggingface(path: str) -> CheckpointView:
    """A Hugging Face ViT/ViViT directory -> Scenic-named view."""
    directory = path if storage.isdir(path) else storage.dirname(path)
    config = read_config(directory)
    state = {k: np.asarray(v, dtype=np.float32) for k, v in _read_weights(directory).items()}
    if config["model_type"] == "cvt":
        notes = [f"Hugging Face CvT ({', '.join(config.get('architectures') or [])}), depth="
                 f"{config.get('depth')}, embed_dim={config.get('embed_dim')}; BatchNorm folded."]
        return CheckpointView(path=directory, format="huggingface",
                              params=hf_cvt_to_flat(state, directory), notes=notes)
    params = hf_to_scenic(state, int(config["num_attention_heads"]), directory)
    notes = [f"Hugging Face {config['model_type']} ({', '.join(config.get('architectures') or [])}),"
             f" hidden_act={config.get('hidden_act')}, layer_norm_eps={config.get('layer_norm_eps')}."]
    if config.get("hidden_act") not in ("gelu_fast", "gelu_pytorch_tanh", "gelu_new"):
        notes.append(f"Trained with hidden_act={config.get('hidden_act')!r}; our MLP uses the tanh "
                     "GELU, so outputs differ slightly (harmless for initialization).")
    return CheckpointView(path=directory, format="huggingface", params=params, notes=notes)
