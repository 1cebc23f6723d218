"""Export a Model 1 checkpoint as a Hugging Face ViViT model.

    python -m vivit.export --checkpoint=WORKDIR_OR_FILE --to=hf --out=DIR
        [--config=configs/x.py[:ARG]] [--config.KEY=VALUE ...]

When the checkpoint belongs to a training run (a workdir holding `config.json` and
`checkpoints/`, or a checkpoint inside one), the model, the clip settings and the class names come
from the run: its `config.json` (the completed config it trained with, command-line overrides
included) and `label_names.json`. `--config=FILE` is needed only for checkpoints without a run;
given with a run, the keys the file holds override the run's, except the model (`model_name`,
`model.*`), which the checkpoint's weights fix: a file disagreeing there is reported and the run's
value kept. `--config.KEY=VALUE` overrides any key, parsed as its declared type by `vivit.config`
exactly as main.py's overrides are (a bare `--config.KEY` sets True, `--noconfig.KEY` False).

`transformers.VivitForVideoClassification.from_pretrained(DIR)` then gives our logits and
`AutoImageProcessor.from_pretrained(DIR)` our inputs; `vivit.formats.hf_writer` writes DIR (only
Model 1 exports; an existing, non-empty DIR is never overwritten; a failed export leaves nothing
half-written; DIR may be a bucket, gs://...). Needs transformers and torch: pip install -e '.[hf]'.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Optional, Sequence

import ml_collections
from absl import flags
from flax import traverse_util

from vivit import workdir
from vivit.cli import fail, flag_dict, parse_flags
from vivit.config import (ConfigError, apply_overrides, complete, load_config, load_config_file,
                          split_config_spec, split_override_args)
from vivit.formats.errors import CheckpointError
from vivit.formats.hf_writer import check_model1_config, write_hf_vivit

def run_config(run: str) -> ml_collections.ConfigDict:
    """The completed config a run trained with, from its config.json (`vivit.workdir`)."""
    try:
        values = workdir.read_config_values(run)
        return complete(ml_collections.ConfigDict(values))
    except (workdir.RunFileError, OSError, ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"'{run}': {error}") from None


def run_label_names(run: str) -> Optional[list[str]]:
    """The class names training saved beside the checkpoints, if any."""
    try:
        return workdir.read_label_names(run)
    except workdir.RunFileError as error:
        raise CheckpointError(str(error)) from None


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    """{'model': {'hidden_size': 8}} -> {'model.hidden_size': 8}."""
    return traverse_util.flatten_dict(values, sep=".")


def _comparable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _is_model_key(key: str) -> bool:
    return key == "model_name" or key.startswith("model.")


def overlay_config_file(config: ml_collections.ConfigDict, file_config: ml_collections.ConfigDict,
                        source: str) -> ml_collections.ConfigDict:
    """`config` (a run's) with the keys `file_config` holds set over it, except the model's (the
    run's weights fix it): a model key on which the file disagrees is reported and the run's kept."""
    run_values = _flat(config.to_dict())
    file_values = _flat(complete(file_config).to_dict())
    held = {key: file_values[key] for key in _flat(file_config.to_dict()) if key in file_values}
    for key in sorted(filter(_is_model_key, held)):
        if _comparable(held[key]) != _comparable(run_values.get(key)):
            print(f"export: warning: {source} sets {key}={held[key]!r} but the run trained with "
                  f"{run_values.get(key)!r}; using the run's.", file=sys.stderr)
    return apply_overrides(config, {key: value for key, value in held.items()
                                    if not _is_model_key(key)})


def _export_config(args: types.SimpleNamespace, overrides: Sequence[str]
                   ) -> tuple[Optional[ml_collections.ConfigDict], Optional[list[str]]]:
    """The config to export with and the run's label names. A run's config.json, with its
    --config file's keys but the model's over it; else the --config file (FILE[:ARG]); then the
    --config.KEY=VALUE overrides, parsed as their declared types (vivit.config, as main.py)."""
    run = workdir.find_run(args.checkpoint)
    if run is None and not args.config:
        if overrides:
            raise CheckpointError(
                f"--config.{overrides[0].partition('=')[0]} needs a config to override: "
                f"'{args.checkpoint}' is not in a training workdir (no config.json beside "
                "checkpoints/) and no --config was given.")
        return None, None
    if run is None:
        return load_config(args.config, overrides), None
    config = run_config(run)
    if args.config:
        overlay_config_file(config, load_config_file(*split_config_spec(args.config)),
                            f"--config={args.config}")
    return apply_overrides(config, overrides), run_label_names(run)


PROG = "export"


def _define_flags() -> flags.FlagValues:
    """This tool's flags, on their own FlagValues (so main() can run many times)."""
    flag_values = flags.FlagValues()
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("checkpoint", None,
                        "a training workdir, or any format vivit.formats.readers reads", **define)
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
    # --config.KEY=VALUE overrides are not flags of their own: vivit.config parses them.
    rest, overrides = split_override_args(sys.argv[1:] if argv is None else argv)
    flag_values = _define_flags()
    positional = parse_flags(
        flag_values, rest, PROG,
        "python -m vivit.export --checkpoint=PATH --to=hf --out=DIR [--config.KEY=VALUE ...]",
        __doc__, unknown_hint=" (overrides are --config.KEY=VALUE)")
    if positional:
        fail(PROG, f"unrecognised argument {positional[0]!r} (every option is a --flag=VALUE)")
    args = types.SimpleNamespace(**flag_dict(flag_values))
    try:
        config, labels = _export_config(args, overrides)
        if config is not None:
            check_model1_config(config)
        data = config.dataset_configs if config is not None else None
        num_frames = args.num_frames or (data.num_frames if data else None)
        image_size = args.image_size or (data.crop_size if data else None)
        if not num_frames or not image_size:
            raise CheckpointError(
                f"'{args.checkpoint}' is not in a training workdir (no config.json beside "
                "checkpoints/): pass --config, or both --num_frames and --image_size.")
        min_resize = args.min_resize or (data.min_resize if data else image_size)
        out = write_hf_vivit(args.checkpoint, args.out, num_frames=int(num_frames),
                             image_size=int(image_size), min_resize=int(min_resize),
                             label_names=labels)
    except (CheckpointError, ConfigError, FileNotFoundError) as err:
        print(f"export: error: {err}", file=sys.stderr)
        return 2
    print(f"Wrote Hugging Face ViViT to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
