"""Where inside the programs does the time go? Wall time of each model part, forward and backward.

    python benchmarks/step_profile.py [--variants=spacetime --top=12]

Takes every size flag of benchmarks/models.py (ViViT-B/16x2 on batch 2, 8 frames of 112x112 by
default). For each variant it compiles the forward pass (inference) and forward + backward (the
gradient of the training loss) as `benchmarks/step_breakdown.py` does, runs each twice under
`jax.profiler`, and attributes the time of XLA's CPU kernels (thunks) to the model part that
emitted them, from the `op_name` metadata XLA keeps on every compiled instruction: the module path
with the block number dropped (`MlpBlock_0/Dense_0`, ...), in the forward pass or in the backward
pass (`transpose(...)` in the name). XLA runs independent kernels side by side, so each figure is
the wall time during which at least one kernel of that part ran (a union of intervals, per call),
not a sum of kernel times; parts that ran side by side both count the shared time.

Prints, per variant, the wall time of the inference forward, of the forward part and of the
backward part of forward + backward, then the `--top` parts by training time, each with its
wall time in the inference forward, in the training forward and in the backward.
XLA's CPU runtime only: on other backends the kernel events have other names and nothing is found.
"""

from __future__ import annotations

import collections
import os
import re
import sys
from typing import Any, Callable

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)  # benchmarks/models.py and step_breakdown.py, beside this file.
sys.path.insert(0, os.path.dirname(_HERE))  # Runs from a checkout without `pip install -e .`.

from absl import flags  # noqa: E402

import models as model_bench  # noqa: E402  (after the path is set)
import step_breakdown  # noqa: E402
from profiling import profiled_events  # noqa: E402
from vivit.cli import parse_flags  # noqa: E402

PROG = "benchmarks/step_profile.py"
_TOP = flags.DEFINE_integer("top", 12, "Model parts listed per variant.",
                            flag_values=model_bench.FLAGS)
_INSTRUCTION = re.compile(r"^\s*%(\S+) = .*$", re.M)
_OP_NAME = re.compile(r'op_name="([^"]*)"')

Part = tuple[str, str]  # ('forward' or 'backward', model part)


def instruction_parts(hlo_text: str) -> dict[str, Part]:
    """Each compiled instruction's name -> (pass, model part), from its op_name metadata."""
    parts = {}
    for match in _INSTRUCTION.finditer(hlo_text):
        op_name = _OP_NAME.search(match.group(0))
        if not op_name:
            continue
        path = op_name.group(1)
        direction = "backward" if "transpose(" in path else "forward"
        # 'jit(f)/transpose(jvp(ViViT))/Transformer/encoderblock_3/MlpBlock_0/Dense_0/dot_general'
        # in a gradient, 'jit(f)/ViViT/Transformer/...' in a forward pass (the root module bare).
        names = path.split("/")[1:]
        if names and "(" not in names[0]:
            names = names[1:]
        # Dropped: transformations, the encoder, block numbers, Flax method scopes.
        names = [name for name in names if name and "." not in name and "(" not in name
                 and not re.fullmatch(r"Transformer|encoderblock(_\d+)?", name)]
        parts[match.group(1)] = (direction, "/".join(names[:2]) or "-")
    return parts


def _union_ms(intervals: list[tuple[int, int]], calls: int) -> float:
    """Milliseconds per call during which at least one of the intervals was running."""
    total, start, end = 0, None, None
    for begin, finish in sorted(intervals):
        if end is None or begin > end:
            total += 0 if end is None else end - start
            start, end = begin, finish
        else:
            end = max(end, finish)
    total += 0 if end is None else end - start
    return total / 1e6 / calls


def profile(call: Callable[[], None], compiled: Any, calls: int = 2) -> dict[Any, float]:
    """Wall ms per call of every (pass, part), and of each pass ('forward'/'backward', None)."""
    parts = instruction_parts(compiled.as_text())
    intervals: dict[Any, list[tuple[int, int]]] = collections.defaultdict(list)
    for event in profiled_events(lambda: [call() for _ in range(calls)]):
        part = parts.get(event.name)  # Kernel events carry their instruction's name.
        if part is not None:
            interval = (event.start_ns, event.start_ns + event.duration_ns)
            intervals[part].append(interval)
            intervals[(part[0], None)].append(interval)
    return {key: _union_ms(found, calls) for key, found in intervals.items()}


def report(variant: str, top: int) -> list[str]:
    """Markdown lines for one variant."""
    calls, compiled = step_breakdown.compiled_programs(variant)
    inference = profile(calls["forward"], compiled["forward"])
    training = profile(calls["forward+backward"], compiled["forward+backward"])
    if not inference or not training:
        return [f"{variant}: no XLA CPU kernel events in the trace (another backend?)."]
    lines = [f"### {variant}", "",
             f"inference forward {inference.get(('forward', None), 0.0):.1f} ms; forward + "
             f"backward: forward part {training.get(('forward', None), 0.0):.1f} ms, backward "
             f"part {training.get(('backward', None), 0.0):.1f} ms (wall time per call)", "",
             "| model part | inference forward ms | training forward ms | backward ms |",
             "|---|---|---|---|"]
    names = {key[1] for key in training if key[1] is not None}
    by_cost = sorted(names, key=lambda name: -(training.get(("forward", name), 0.0)
                                                + training.get(("backward", name), 0.0)))
    for name in by_cost[:top]:
        lines.append(f"| {name} | {inference.get(('forward', name), 0.0):.1f} | "
                     f"{training.get(('forward', name), 0.0):.1f} | "
                     f"{training.get(('backward', name), 0.0):.1f} |")
    return lines + [""]


def main() -> None:
    flag_values = model_bench.FLAGS
    print(f"clip {model_bench.clip_shape()}, dtype {flag_values.dtype}; jax.profiler, "
          "2 calls per program after a warm-up\n")
    for variant in flag_values.variants:
        print("\n".join(report(variant, _TOP.value)), flush=True)


if __name__ == "__main__":
    parse_flags(model_bench.FLAGS, sys.argv[1:], PROG, f"python {PROG} [flags]", __doc__)
    main()
