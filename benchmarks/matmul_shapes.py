"""How fast are one encoder layer's own matrix products under XLA and under torch?

    python benchmarks/matmul_shapes.py [--tokens=394 --hidden_size=768 --mlp_dim=3072]

`benchmarks/models.py` measures each framework's matmul peak on one large square product. A
ViViT-B layer at the CPU benchmark's size (2 clips of 197 tokens: 394 rows) multiplies much
thinner matrices, and its backward pass contracts over the 394 tokens to get the weight
gradients. This script times exactly those products (float32, or `--dtype=bfloat16`; with
`--xla_float32_sums` XLA is asked for float32 sums, which its CPU backend needs before it uses
a CPU's bfloat16 matrix instructions), in the shapes a transformer
layer (q, k, v and output projections, the MLP's two layers) runs them: forward `x @ w`, the
input gradient `dy @ w.T` and the weight gradient `x.T @ dy`. XLA (jitted
`lax.dot_general`) and torch (`torch.matmul` on transposed views, `--threads` intra-op
threads, default the usable cores) each run in their own subprocess, rounds interleaved;
each time is the median of `--steps` calls after a warm-up. It prints a table per product and
the total of one layer's products, forward and forward + backward, under each framework: the
part of a train-step gap to Hugging Face that comes from the matmul libraries, not from our
model code.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any, Callable

from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)  # Runs from a checkout without `pip install -e .`.

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # benchmarks/models.py.

import models as model_bench  # noqa: E402  (after the path is set)
from vivit.cli import parse_flags  # noqa: E402

PROG = "benchmarks/matmul_shapes.py"
FLAGS = flags.FlagValues()  # Its own flags: tests import this module beside other benchmarks.
_F = dict(flag_values=FLAGS)
_TOKENS = flags.DEFINE_integer("tokens", 394, "Rows: clips x tokens per clip (2 x 197).", **_F)
_HIDDEN = flags.DEFINE_integer("hidden_size", 768, "Token width (ViViT-B: 768).", **_F)
_MLP = flags.DEFINE_integer("mlp_dim", 3072, "MLP width (ViViT-B: 3072).", **_F)
_STEPS = flags.DEFINE_integer("steps", 7, "Timed calls per product (after a warm-up).", **_F)
_ROUNDS = flags.DEFINE_integer("rounds", 2, "Interleaved rounds (a subprocess each).", **_F)
_THREADS = flags.DEFINE_integer("threads", 0, "Torch intra-op threads; 0: usable cores.", **_F)
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Operand dtype.", **_F)
_FLOAT32_SUMS = flags.DEFINE_bool(
    "xla_float32_sums", False, "XLA's products ask for float32 sums (preferred_element_type) "
    "and round the result to --dtype; torch's bfloat16 matmul sums in float32 anyway.", **_F)
_WORKER = flags.DEFINE_enum("worker", None, ["xla", "torch"], "Internal: one round.", **_F)
RESULT_PREFIX = "RESULT "


def layer_products(tokens: int, hidden: int, mlp: int) -> list[dict[str, Any]]:
    """One layer's products: name, pass, how many per layer, operand shapes and transposes.

    `lhs`/`rhs` are the stored shapes; `transpose` says which operand the product reads
    transposed (the input gradient reads the weight transposed, the weight gradient the
    activations), as autodiff's dot_general and torch's backward do. Each weight [in, out]
    gives three: forward x[n, in] @ w, input gradient dy[n, out] @ w.T, weight gradient
    x.T @ dy.
    """
    n = tokens
    weights = [("q/k/v/out", "q/k/v/out projection", 4, hidden, hidden),
               ("MLP in", "MLP in (Dense_0)", 1, hidden, mlp),
               ("MLP out", "MLP out (Dense_1)", 1, mlp, hidden)]
    forward = [dict(name=label, kind="forward", count=count, lhs=(n, fan_in),
                    rhs=(fan_in, fan_out), transpose="")
               for _, label, count, fan_in, fan_out in weights]
    input_gradients = [dict(name=f"{name} input gradient", kind="backward", count=count,
                            lhs=(n, fan_out), rhs=(fan_in, fan_out), transpose="rhs")
                       for name, _, count, fan_in, fan_out in weights]
    weight_gradients = [dict(name=f"{name} weight gradient", kind="backward", count=count,
                             lhs=(n, fan_in), rhs=(n, fan_out), transpose="lhs")
                        for name, _, count, fan_in, fan_out in weights]
    return forward + input_gradients + weight_gradients


def product_dims(product: dict[str, Any]) -> tuple[int, int, int]:
    """Rows, contraction and columns of one product."""
    lhs, rhs, transpose = product["lhs"], product["rhs"], product["transpose"]
    rows, inner = (lhs[1], lhs[0]) if transpose == "lhs" else lhs
    columns = rhs[0] if transpose == "rhs" else rhs[1]
    return rows, inner, columns


def product_flops(product: dict[str, Any]) -> float:
    """2 x rows x contraction x columns (a multiply-add counts two)."""
    rows, inner, columns = product_dims(product)
    return 2.0 * rows * inner * columns


def median_seconds(fn: Callable[[], Any], steps: int) -> float:
    """Median seconds of `steps` calls after one warm-up call; `fn` must block until done."""
    return statistics.median(model_bench.timed(fn, steps))


def xla_round(products: list[dict[str, Any]], steps: int) -> list[float]:
    import jax
    import jax.numpy as jnp
    from jax import lax

    key = jax.random.PRNGKey(0)
    dtype = jnp.dtype(_DTYPE.value)
    sums = jnp.float32 if _FLOAT32_SUMS.value else None
    contract = {"": ((1,), (0,)), "rhs": ((1,), (1,)), "lhs": ((0,), (0,))}
    times = []
    for product in products:
        lhs = jax.random.normal(key, product["lhs"], dtype)
        rhs = jax.random.normal(key, product["rhs"], dtype)
        dims = (contract[product["transpose"]], ((), ()))
        matmul = jax.jit(lambda a, b, dims=dims: lax.dot_general(
            a, b, dims, preferred_element_type=sums).astype(dtype))
        times.append(median_seconds(lambda: matmul(lhs, rhs).block_until_ready(), steps))
    return times


def torch_round(products: list[dict[str, Any]], steps: int, threads: int) -> list[float]:
    import torch

    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    dtype = getattr(torch, _DTYPE.value)
    times = []
    for product in products:
        lhs = torch.randn(*product["lhs"], generator=generator).to(dtype)
        rhs = torch.randn(*product["rhs"], generator=generator).to(dtype)
        a = lhs.t() if product["transpose"] == "lhs" else lhs
        b = rhs.t() if product["transpose"] == "rhs" else rhs
        times.append(median_seconds(lambda a=a, b=b: torch.matmul(a, b), steps))
    return times


def run_worker(worker: str) -> list[float]:
    """One round of one framework in a fresh subprocess; its seconds per product."""
    argv = [arg for arg in sys.argv[1:] if not arg.startswith("--worker")]
    result = subprocess.run([sys.executable, os.path.abspath(__file__), *argv,
                             f"--worker={worker}"], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"The {worker} worker failed:\n{result.stderr[-3000:]}")
    line = next(l for l in result.stdout.splitlines() if l.startswith(RESULT_PREFIX))
    return json.loads(line[len(RESULT_PREFIX):])


def report(products: list[dict[str, Any]], xla: list[float], torch: list[float]) -> str:
    """Per product GFLOP/s under each framework, then one layer's totals."""
    lines = ["| product | pass | per layer | shape (rows x contraction x columns) "
             "| XLA GFLOP/s | torch GFLOP/s | torch / XLA speed |",
             "|---|---|---|---|---|---|---|"]
    totals = {kind: [0.0, 0.0, 0.0] for kind in ("forward", "backward")}
    for product, xla_s, torch_s in zip(products, xla, torch):
        flops = product_flops(product)
        rows, inner, columns = product_dims(product)
        lines.append(f"| {product['name']} | {product['kind']} | {product['count']} "
                     f"| {rows} x {inner} x {columns} | {flops / xla_s / 1e9:.1f} "
                     f"| {flops / torch_s / 1e9:.1f} | {xla_s / torch_s:.2f}x |")
        total = totals[product["kind"]]
        total[0] += product["count"] * xla_s
        total[1] += product["count"] * torch_s
        total[2] += product["count"] * flops
    forward, backward = totals["forward"], totals["backward"]
    both = [f + b for f, b in zip(forward, backward)]
    lines.append("")
    for label, (xla_s, torch_s, _) in (("forward", forward), ("forward + backward", both)):
        lines.append(f"one layer's products, {label}: XLA {xla_s * 1e3:.2f} ms, torch "
                     f"{torch_s * 1e3:.2f} ms (torch {xla_s / torch_s:.2f}x as fast)")
    return "\n".join(lines)


def main() -> None:
    products = layer_products(_TOKENS.value, _HIDDEN.value, _MLP.value)
    threads = _THREADS.value or model_bench.usable_cores()
    if _WORKER.value == "xla":
        print(RESULT_PREFIX + json.dumps(xla_round(products, _STEPS.value)), flush=True)
        return
    if _WORKER.value == "torch":
        print(RESULT_PREFIX + json.dumps(torch_round(products, _STEPS.value, threads)),
              flush=True)
        return
    rounds: dict[str, list[list[float]]] = {"xla": [], "torch": []}
    for round_index in range(_ROUNDS.value):
        for worker in rounds:
            print(f"round {round_index + 1}/{_ROUNDS.value}: {worker}", flush=True)
            rounds[worker].append(run_worker(worker))
    medians = {worker: [statistics.median(times) for times in zip(*samples)]
               for worker, samples in rounds.items()}
    sums = "; XLA asks for float32 sums" if _FLOAT32_SUMS.value else ""
    print(f"\n{_DTYPE.value}{sums}, {_TOKENS.value} rows, hidden {_HIDDEN.value}, "
          f"mlp {_MLP.value}; torch threads {threads}, XLA CPU threads "
          f"{model_bench.usable_cores()}; medians of {_STEPS.value} calls x {_ROUNDS.value} rounds")
    print(report(products, medians["xla"], medians["torch"]))


if __name__ == "__main__":
    parse_flags(FLAGS, sys.argv[1:], PROG, f"python {PROG} [flags]", __doc__)
    main()
