"""`python -m vivit.pretrained info PATH`: name a checkpoint's format, list its tree, say what it fits.

On a training workdir (or its checkpoints/ folder) it first lists every step as intact or corrupt
(each step is read in full), then describes the newest intact step.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, Sequence

import numpy as np
from absl import flags

from vivit import storage, workdir
from vivit.cli import fail, parse_flags
from vivit.formats.errors import CheckpointError
from vivit.formats.readers import READERS, read_checkpoint
from vivit.formats.view import CheckpointView


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


def _steps_root(path: str) -> str | None:
    """The folder of finished Orbax steps: PATH/checkpoints (a workdir) or PATH itself."""
    for root in (workdir.checkpoint_dir(path), workdir.resolve(path)):
        if root.is_dir() and workdir.finished_steps(root):
            return os.fspath(root)
    return None


def format_health(root: str, health: list[tuple[int, str | None]]) -> str:
    lines = [f"steps in {root} (newest first):"]
    lines += [f"  {step}: {'intact' if problem is None else 'CORRUPT: ' + problem}"
              for step, problem in health]
    return "\n".join(lines)


PROG = "python -m vivit.pretrained"
USAGE = f"{PROG} info PATH [--format=FORMAT]"


def main(argv: Optional[Sequence[str]] = None) -> int:
    flag_values = flags.FlagValues()
    flags.DEFINE_enum("format", None, sorted(READERS),
                      "skip detection (as init_from.checkpoint_format)", flag_values=flag_values)
    positional = parse_flags(flag_values, sys.argv[1:] if argv is None else argv, PROG, USAGE,
                             __doc__)
    if not positional or positional[0] != "info":
        got = repr(positional[0]) if positional else "none"
        fail(PROG, f"expected the subcommand 'info' ({USAGE}), got {got}")
    if len(positional) != 2:
        fail(PROG, f"info takes one PATH ({USAGE}), got {len(positional) - 1}")
    path, checkpoint_format = positional[1], flag_values.format
    root = _steps_root(path) if checkpoint_format in (None, "orbax") else None
    if root is not None:
        from vivit.train.checkpointing import step_health  # Imports JAX's Orbax: only here.

        health = step_health(root)
        print(format_health(root, health))
        intact = [step for step, problem in health if problem is None]
        if not intact:
            print(f"error: no intact checkpoint step in {root}.", file=sys.stderr)
            return 1
        path = storage.join(root, str(intact[0]))
        print(f"newest intact step: {intact[0]}")
    try:
        view = read_checkpoint(path, checkpoint_format)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_info(view))
    return 0


if __name__ == "__main__":
    sys.exit(main())
