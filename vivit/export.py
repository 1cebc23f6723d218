"""Export a Model 1 checkpoint as a Hugging Face ViViT model.

    python -m vivit.export --checkpoint=WORKDIR_OR_FILE --to=hf --out=DIR [--config=configs/x.py]
        [--config.KEY=VALUE ...]

When the checkpoint belongs to a training run (a workdir holding `config.json` and
`checkpoints/`, or a checkpoint inside one), the model, the clip settings and the class names come
from the run: its `config.json` (the completed config it trained with, command-line overrides
included) and `label_names.json`. `--config=FILE` is needed only for checkpoints without a run;
given with a run, the keys the file holds override the run's, except the model (`model_name`,
`model.*`), which the checkpoint's weights fix: a file disagreeing there is reported and the run's
value kept. `--config.KEY=VALUE` overrides any key.

`transformers.VivitForVideoClassification.from_pretrained(DIR)` then gives our logits, and
`AutoImageProcessor.from_pretrained(DIR)` reproduces our input range: pixels / 127.5 - 1, no
mean/std (the processors on the Hub have shipped with other offsets and scales). Only Model 1
(spacetime attention, class token, no pre_logits) exists in transformers. Needs `transformers`,
`torch` and `safetensors` (requirements-test.txt). The output directory is written beside DIR and
renamed into place at the end, so a failed export leaves nothing half-written; an existing,
non-empty DIR is never overwritten. DIR may be a bucket (gs://...): the model is written and
checked in a local staging directory, then uploaded (config and processor files first, the weights
last).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
import tempfile
import types
from typing import Any, Optional, Sequence

import ml_collections
from absl import flags
from flax import traverse_util
import numpy as np

from vivit import storage
from vivit.cli import fail, flag_dict, parse_flags
from vivit.formats.errors import CheckpointError
from vivit.formats.hf_names import hf_to_scenic, scenic_to_hf_vivit
from vivit.formats.readers import read_checkpoint
from vivit.formats.view import CheckpointView
from vivit.config import apply_overrides, complete, load_config_file

# Our MLP uses flax.linen.gelu, the tanh approximation: Hugging Face calls it gelu_fast.
HF_HIDDEN_ACT = "gelu_fast"
LAYER_NORM_EPS = 1e-6  # flax.linen.LayerNorm's default
RUN_CONFIG = "config.json"  # written by training in the workdir (vivit.train.checkpointing)
RUN_LABEL_NAMES = "label_names.json"  # written by training (trainer.LABEL_NAMES_FILE)


def _check_model1_config(config: ml_collections.ConfigDict) -> None:
    model = config.model
    problems = []
    if model.attention_config.type != "spacetime":
        problems.append(f"model.attention_config.type={model.attention_config.type!r} (need 'spacetime')")
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
    from transformers import VivitConfig

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
    return VivitConfig(
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
    from transformers import VivitImageProcessor

    return VivitImageProcessor(
        do_resize=True, size={"shortest_edge": min_resize}, do_center_crop=True,
        crop_size={"height": crop_size, "width": crop_size}, do_rescale=True,
        rescale_factor=1 / 127.5, offset=True, do_normalize=False)


def _verify_written(directory: str, view: CheckpointView, num_heads: int) -> None:
    """Loads the written model with transformers and checks every tensor arrived unchanged."""
    from transformers import VivitForVideoClassification

    model = VivitForVideoClassification.from_pretrained(directory)
    loaded = hf_to_scenic({k: v.detach().numpy() for k, v in model.state_dict().items()},
                          num_heads, directory)
    if sorted(loaded) != sorted(view.params):
        raise CheckpointError(f"transformers loaded {sorted(set(loaded) ^ set(view.params))[:5]} "
                              "differently from what was written.")
    for name, value in view.params.items():
        if not np.array_equal(loaded[name], np.asarray(value, np.float32)):
            raise CheckpointError(f"transformers did not load '{name}' unchanged.")


def export_to_hf(checkpoint: str, out: str, *, num_frames: int, image_size: int,
                 min_resize: int, label_names: Optional[Sequence[str]] = None) -> str:
    """Writes `out` (a new directory) holding config.json, model.safetensors and the processor."""
    from safetensors.numpy import save_file

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
            _upload_export(staging, out)
            shutil.rmtree(staging, ignore_errors=True)
            return out
        if os.path.exists(out):
            os.rmdir(out)  # empty, checked above
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def find_run(checkpoint: str) -> Optional[str]:
    """The training workdir `checkpoint` belongs to (it holds config.json and checkpoints/):
    the checkpoint itself, or up to three levels above it (checkpoints/<step>/<item>)."""
    path = os.fspath(storage.resolve(checkpoint))
    for _ in range(4):
        if (storage.isfile(storage.join(path, RUN_CONFIG))
                and storage.isdir(storage.join(path, "checkpoints"))):
            return path
        path = storage.dirname(path)
    return None


def _read_json(path: str) -> Any:
    try:
        return json.loads(storage.read_text(path))
    except ValueError as error:
        raise CheckpointError(f"'{path}' is not valid JSON ({error}).") from None


def run_config(run: str) -> ml_collections.ConfigDict:
    """The completed config a run trained with, from its config.json."""
    path = storage.join(run, RUN_CONFIG)
    values = _read_json(path)
    if not isinstance(values, dict):
        raise CheckpointError(f"'{path}' does not hold a config (a JSON object).")
    try:
        return complete(ml_collections.ConfigDict(values))
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"'{path}': {error}") from None


def run_label_names(run: str) -> Optional[list[str]]:
    """The class names training saved beside the checkpoints, if any."""
    path = storage.join(run, RUN_LABEL_NAMES)
    if not storage.isfile(path):
        return None
    names = _read_json(path)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"'{path}' must hold a JSON list of class names.")
    return names


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    """{'model': {'hidden_size': 8}} -> {'model.hidden_size': 8}."""
    return traverse_util.flatten_dict(values, sep=".")


def _comparable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _is_model_key(key: str) -> bool:
    return key == "model_name" or key.startswith("model.")


def overlay_config_file(config: ml_collections.ConfigDict, file_config: ml_collections.ConfigDict,
                        source: str) -> ml_collections.ConfigDict:
    """`config` (a run's) with the keys `file_config` holds, except the model's (the run's
    weights fix it): a model key on which the file disagrees is reported and the run's kept."""
    run_values = _flat(config.to_dict())
    file_values = _flat(complete(file_config).to_dict())
    held = _flat(file_config.to_dict())
    for key in sorted(held):
        value = file_values[key]
        if _is_model_key(key):
            if _comparable(value) != _comparable(run_values.get(key)):
                print(f"export: warning: {source} sets {key}={value!r} but the run trained with "
                      f"{run_values.get(key)!r}; using the run's.", file=sys.stderr)
            continue
        apply_overrides(config, {key: value})
    return config


def _override_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a plain string, as ml_collections' flags take it


def _export_config(args: types.SimpleNamespace, overrides: dict[str, Any]
                   ) -> tuple[Optional[ml_collections.ConfigDict], Optional[list[str]]]:
    """The config to export with (the run's, then --config, then --config.KEY=VALUE) and the
    run's label names."""
    run = find_run(args.checkpoint)
    config = run_config(run) if run else None
    labels = run_label_names(run) if run else None
    if args.config:
        try:
            file_config = load_config_file(args.config)
        except FileNotFoundError as error:
            raise CheckpointError(f"--config: {error}") from None
        try:
            config = (complete(file_config) if config is None
                      else overlay_config_file(config, file_config, f"--config={args.config}"))
        except (ValueError, TypeError, KeyError) as error:
            raise CheckpointError(f"--config={args.config}: {error}") from None
    if overrides:
        if config is None:
            raise CheckpointError(
                f"--config.{next(iter(overrides))} needs a config to override: '{args.checkpoint}' "
                "is not in a training workdir (no config.json beside checkpoints/) and no "
                "--config was given.")
        for key, value in overrides.items():
            try:
                apply_overrides(config, {key: value})
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise CheckpointError(f"--config.{key}={value!r}: {error}") from None
    return config, labels


def _upload_export(staging: str, out: str) -> None:
    """Uploads a finished export; model.safetensors goes last, so a directory holding it is
    complete (transformers needs config.json beside it)."""
    names = sorted(os.listdir(staging), key=lambda name: name == "model.safetensors")
    for name in names:
        storage.upload(os.path.join(staging, name), storage.join(out, name))


PROG = "export"


def _define_flags() -> flags.FlagValues:
    """This tool's flags, on their own FlagValues (so main() can run many times)."""
    flag_values = flags.FlagValues()
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("checkpoint", None,
                        "a training workdir, or any format vivit.pretrained reads", **define)
    flags.DEFINE_enum("to", None, ["hf"], "target format (hf: Hugging Face ViViT)", **define)
    flags.DEFINE_string("out", None, "new directory to write", **define)
    for name in ("checkpoint", "to", "out"):
        flags.mark_flag_as_required(name, flag_values=flag_values)
    flags.DEFINE_string("config", None, "config file: for checkpoints outside a training "
                        "workdir; with one, its keys (not the model's) override the run's",
                        **define)
    flags.DEFINE_integer("num_frames", None, "clip length (default: from the config)", **define)
    flags.DEFINE_integer("image_size", None, "crop size (default: from the config)", **define)
    flags.DEFINE_integer("min_resize", None, "short side before cropping (default: from the "
                         "config, else the crop size)", **define)
    return flag_values


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --config.KEY=VALUE overrides are not flags of their own: split them off first.
    overrides = {}
    for extra in [arg for arg in argv if arg.startswith("--config.")]:
        key, equals, value = extra.partition("=")
        if not equals or key == "--config.":
            fail(PROG, f"unrecognised argument {extra!r} (overrides are --config.KEY=VALUE)")
        overrides[key[len("--config."):]] = _override_value(value)
    flag_values = _define_flags()
    positional = parse_flags(
        flag_values, [arg for arg in argv if not arg.startswith("--config.")], PROG,
        "python -m vivit.export --checkpoint=PATH --to=hf --out=DIR [--config.KEY=VALUE ...]",
        __doc__, unknown_hint=" (overrides are --config.KEY=VALUE)")
    if positional:
        fail(PROG, f"unrecognised argument {positional[0]!r} (every option is a --flag=VALUE)")
    args = types.SimpleNamespace(**flag_dict(flag_values))
    try:
        config, labels = _export_config(args, overrides)
        if config is not None:
            _check_model1_config(config)
        data = config.dataset_configs if config is not None else None
        num_frames = args.num_frames or (data.num_frames if data else None)
        image_size = args.image_size or (data.crop_size if data else None)
        if not num_frames or not image_size:
            raise CheckpointError(
                f"'{args.checkpoint}' is not in a training workdir (no config.json beside "
                "checkpoints/): pass --config, or both --num_frames and --image_size.")
        min_resize = args.min_resize or (data.min_resize if data else image_size)
        out = export_to_hf(args.checkpoint, args.out, num_frames=int(num_frames),
                           image_size=int(image_size), min_resize=int(min_resize),
                           label_names=labels)
    except CheckpointError as err:
        print(f"export: error: {err}", file=sys.stderr)
        return 2
    print(f"Wrote Hugging Face ViViT to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
