"""Writes a Model 1 checkpoint as a Hugging Face ViViT directory (`VivitForVideoClassification`).

The directory holds `config.json`, `model.safetensors` (names from `hf_names.py`) and a
`preprocessor_config.json` that reproduces our input range: pixels / 127.5 - 1, no mean/std (the
processors on the Hub have shipped with other offsets and scales). Only Model 1 (spacetime
attention, class token, no pre_logits) exists in transformers. Writing needs transformers and
torch (`pip install -e '.[hf]'`): the written model is loaded back with transformers and every
tensor compared before the directory is renamed into place, so a failed write leaves nothing
half-written. A bucket (gs://...) gets the checked files uploaded, the weights last.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from types import ModuleType
from typing import Any, Optional, Sequence

import numpy as np

from vivit import storage
from vivit.formats.errors import INSTALL_HF, CheckpointError
from vivit.formats.hf_names import hf_to_scenic, scenic_to_hf_vivit
from vivit.formats.readers import read_checkpoint
from vivit.formats.view import CheckpointView

# Our MLP uses flax.linen.gelu, the tanh approximation: Hugging Face calls it gelu_fast.
HF_HIDDEN_ACT = "gelu_fast"
LAYER_NORM_EPS = 1e-6  # flax.linen.LayerNorm's default


def import_transformers() -> ModuleType:
    """transformers, with torch (which it needs to load the written model back); a missing one
    is a CheckpointError naming the extra that installs both."""
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as error:
        raise CheckpointError(
            f"Hugging Face export needs transformers and torch ({error.name or error} is not "
            f"installed): {INSTALL_HF}") from None
    return transformers


def check_model1_config(config: Any) -> None:
    """Raises CheckpointError naming every `model.*` key that makes `config` other than Model 1,
    the one ViViT transformers has."""
    model = config.model
    problems = []
    if model.attention_config.type != "spacetime":
        problems.append(f"model.attention_config.type={model.attention_config.type!r} "
                        "(need 'spacetime')")
    if model.classifier not in ("token", "0"):
        problems.append(f"model.classifier={model.classifier!r} (Hugging Face ViViT classifies "
                        "from the class token only: need 'token')")
    if model.temporal_encoding_config.method != "3d_conv":
        problems.append(f"model.temporal_encoding_config.method="
                        f"{model.temporal_encoding_config.method!r} (need '3d_conv')")
    if model.representation_size is not None:
        problems.append("model.representation_size is set (Hugging Face ViViT has no pre_logits)")
    if problems:
        raise CheckpointError("Only Model 1 exports to Hugging Face ViViT: " + "; ".join(problems))


def hf_vivit_config(view: CheckpointView, num_frames: int, image_size: int,
                    label_names: Optional[Sequence[str]] = None):
    """A transformers VivitConfig describing the Model 1 tree in `view`, checked against it."""
    transformers = import_transformers()
    p = view.params
    required = ("cls", "embedding/kernel", "Transformer/posembed_input/pos_embedding",
                "output_projection/kernel")
    missing = [name for name in required if name not in p]
    extra = [name for name in p if name.startswith(("pre_logits", "SpatialTransformer"))
             or "_space/" in name]
    if missing or extra or p["embedding/kernel"].ndim != 5:
        raise CheckpointError(
            f"'{view.path}' is not a Model 1 checkpoint with a class token (missing {missing}, "
            f"unsupported {extra[:3]}); only Model 1 exports to Hugging Face ViViT.")
    t, h, w, channels, hidden = p["embedding/kernel"].shape
    if h != w:
        raise CheckpointError(f"'{view.path}': non-square patches {h}x{w} do not export.")
    layers = len({n.split("/")[1] for n in p if n.startswith("Transformer/encoderblock_")})
    heads = p["Transformer/encoderblock_0/MultiHeadDotProductAttention_0/query/kernel"].shape[1]
    n_tokens = p["Transformer/posembed_input/pos_embedding"].shape[1]
    expected = (num_frames // t) * (image_size // h) * (image_size // w) + 1
    if n_tokens != expected:
        raise CheckpointError(
            f"'{view.path}': the posemb has {n_tokens} tokens but {num_frames} frames of "
            f"{image_size}x{image_size} with {t}x{h}x{w} tubelets give {expected}; pass the "
            "checkpoint's --num_frames and --image_size (or its --config).")
    num_labels = p["output_projection/kernel"].shape[1]
    if label_names and len(label_names) != num_labels:
        raise CheckpointError(
            f"'{view.path}' has {num_labels} classes but {len(label_names)} label names were "
            "given; they must match one to one.")
    labels = list(label_names) if label_names else [f"LABEL_{i}" for i in range(num_labels)]
    return transformers.VivitConfig(
        image_size=image_size, num_frames=num_frames, tubelet_size=[t, h, w],
        num_channels=channels, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=p["Transformer/encoderblock_0/MlpBlock_0/Dense_0/kernel"].shape[1],
        hidden_act=HF_HIDDEN_ACT, layer_norm_eps=LAYER_NORM_EPS, qkv_bias=True,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)},
        architectures=["VivitForVideoClassification"])


def hf_image_processor(min_resize: int, crop_size: int):
    """Resize the short side, centre-crop, then pixels / 127.5 - 1: our [-1, 1] inputs."""
    transformers = import_transformers()
    return transformers.VivitImageProcessor(
        do_resize=True, size={"shortest_edge": min_resize}, do_center_crop=True,
        crop_size={"height": crop_size, "width": crop_size}, do_rescale=True,
        rescale_factor=1 / 127.5, offset=True, do_normalize=False)


def _verify_written(directory: str, view: CheckpointView, num_heads: int) -> None:
    """Loads the written model with transformers and checks every tensor arrived unchanged."""
    transformers = import_transformers()
    model = transformers.VivitForVideoClassification.from_pretrained(directory)
    loaded = hf_to_scenic({k: v.detach().numpy() for k, v in model.state_dict().items()},
                          num_heads, directory)
    if sorted(loaded) != sorted(view.params):
        raise CheckpointError(f"transformers loaded {sorted(set(loaded) ^ set(view.params))[:5]} "
                              "differently from what was written.")
    for name, value in view.params.items():
        if not np.array_equal(loaded[name], np.asarray(value, np.float32)):
            raise CheckpointError(f"transformers did not load '{name}' unchanged.")


def _upload(staging: str, out: str) -> None:
    """Uploads a finished directory; model.safetensors goes last, so a directory holding it is
    complete (transformers needs config.json beside it)."""
    names = sorted(os.listdir(staging), key=lambda name: name == "model.safetensors")
    for name in names:
        storage.upload(os.path.join(staging, name), storage.join(out, name))


def write_hf_vivit(checkpoint: str, out: str, *, num_frames: int, image_size: int,
                   min_resize: int, label_names: Optional[Sequence[str]] = None) -> str:
    """Reads `checkpoint` (any format the readers know) and writes `out`, a new directory holding
    config.json, model.safetensors and the processor; returns `out`."""
    from safetensors.numpy import save_file

    import_transformers()  # Before reading: a missing package fails at once.
    if storage.isdir(out) and storage.listdir(out):
        raise CheckpointError(f"Output directory '{out}' exists and is not empty; not overwriting.")
    view = read_checkpoint(checkpoint)
    config = hf_vivit_config(view, num_frames, image_size, label_names)
    state = {k: np.ascontiguousarray(v, dtype=np.float32)
             for k, v in scenic_to_hf_vivit(view.params).items()}
    remote = storage.is_url(out)
    parent = tempfile.gettempdir() if remote else os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        save_file(state, os.path.join(staging, "model.safetensors"), metadata={"format": "pt"})
        config.save_pretrained(staging)
        hf_image_processor(min_resize, image_size).save_pretrained(staging)
        _verify_written(staging, view, config.num_attention_heads)
        if remote:
            _upload(staging, out)
            shutil.rmtree(staging, ignore_errors=True)
            return out
        if os.path.exists(out):
            os.rmdir(out)  # empty, checked above
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
