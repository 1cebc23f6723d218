"""Where do our ViViT variants and Scenic's differ once XLA has compiled them?

    python benchmarks/hlo_ops.py --scenic_dir=PATH [--variants=spacetime and models.py's flags]

For every variant it compiles our model and Scenic's (`benchmarks/models.py --scenic_dir`: same
config section, same train step) and prints, for the forward and the train step, the number of
HLO instructions of each compiled program, XLA's FLOPs, and the opcodes whose counts differ. The
same program (same counts and FLOPs) cannot run at a different speed for a reason in the model
code; differing copies and transposes point at layout work one of the two does more of.
"""

from __future__ import annotations

import collections
import os
import re
import sys

from models import (FLAGS, PROG as MODELS_PROG, VARIANTS, _SCENIC, _VARIANTS, check_scenic_dir,
                    compile_forward_and_train, model_config, scenic_module, xla_flops)
from vivit.cli import fail, parse_flags

PROG = "benchmarks/hlo_ops.py"
# One HLO instruction: `[ROOT ]%name = type opcode(operands)...`.
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*.+?\s([a-z][\w\-]*)\(", re.M)


def opcode_counts(hlo_text: str) -> collections.Counter:
    """How many instructions of each opcode an HLO module's text holds (fusion bodies too)."""
    return collections.Counter(_INSTRUCTION.findall(hlo_text))


def differing(ours: collections.Counter, theirs: collections.Counter) -> str:
    """`opcode ours/theirs` for every opcode whose counts differ, most different first."""
    names = sorted(set(ours) | set(theirs), key=lambda n: (-abs(ours[n] - theirs[n]), n))
    return ", ".join(f"{n} {ours[n]}/{theirs[n]}" for n in names if ours[n] != theirs[n]) or "-"


def compare(variant: str, scenic_dir: str) -> list[str]:
    """Markdown rows (forward, train step) comparing our compiled `variant` with Scenic's."""
    from vivit.models import build_model

    config = model_config(variant)
    ours = compile_forward_and_train(build_model(config), config)
    theirs = compile_forward_and_train(scenic_module(config, scenic_dir), config)
    rows = []
    for program in ("forward", "train"):
        a, b = getattr(ours, program), getattr(theirs, program)
        counts_a, counts_b = opcode_counts(a.as_text()), opcode_counts(b.as_text())
        rows.append(f"| {variant} | {program} | {sum(counts_a.values())} | "
                    f"{sum(counts_b.values())} | {xla_flops(a) / 1e9:.2f} | "
                    f"{xla_flops(b) / 1e9:.2f} | {differing(counts_a, counts_b)} |")
    return rows


def main() -> None:
    check_scenic_dir(PROG, _SCENIC.value)
    unknown = sorted(set(_VARIANTS.value) - set(VARIANTS))
    if unknown:
        fail(PROG, f"--variants: unknown {unknown}; expected some of {list(VARIANTS)}.")
    scenic_dir = os.path.abspath(_SCENIC.value)
    print("| variant | program | HLO ops ours | HLO ops Scenic | GFLOPs ours | GFLOPs Scenic "
          "| opcodes ours/Scenic where they differ |")
    print("|---|---|---|---|---|---|---|")
    for variant in _VARIANTS.value:
        print("\n".join(compare(variant, scenic_dir)), flush=True)


if __name__ == "__main__":
    parse_flags(FLAGS, sys.argv[1:], PROG, f"python {PROG} --scenic_dir=PATH [{MODELS_PROG} flags]",
                __doc__)
    main()
