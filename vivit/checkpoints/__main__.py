"""`python -m vivit.checkpoints info PATH`: name a checkpoint's format, list its tree, say what it fits."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

import numpy as np

from vivit.checkpoints.errors import CheckpointError
from vivit.checkpoints.readers import READERS, read_checkpoint
from vivit.checkpoints.view import CheckpointView


def format_info(view: CheckpointView) -> str:
    """The report `info` prints: format, model, notes, then every parameter with its shape."""
    total = sum(int(np.prod(a.shape)) for a in view.params.values())
    lines = [f"path:   {view.path}", f"format: {view.format}", f"model:  {view.describe_model()}",
             f"params: {len(view.params)} arrays, {total:,} values (Scenic names)"]
    lines += [f"note:   {note}" for note in view.notes]
    width = max((len(name) for name in view.params), default=0)
    lines += [f"  {name:<{width}}  {tuple(view.params[name].shape)} {view.params[name].dtype}"
              for name in sorted(view.params)]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vivit.checkpoints")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="name the format, list the tree, say what it fits")
    info.add_argument("path")
    info.add_argument("--format", choices=sorted(READERS), default=None,
                      help="skip detection (as init_from.checkpoint_format)")
    args = parser.parse_args(argv)
    try:
        view = read_checkpoint(args.path, args.format)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_info(view))
    return 0


if __name__ == "__main__":
    sys.exit(main())
