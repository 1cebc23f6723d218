"""How fast is one attention product (QK^T, softmax, times V) in each formulation we could use?

    python benchmarks/attention_layout.py [--tokens=197 --heads=12 --head_dim=64 --dtype=float32]

Times, on [batch, tokens, heads, head_dim] queries, keys and values (ViT-B over 197 tokens by
default, the shapes of ViViT-B/16x2 Model 1 on the CPU-sized clips of benchmarks/models.py), the
forward and the forward+backward (gradient of a sum of squares of the output) of:

- `flax`: Flax's `nn.dot_product_attention` as is (Scenic's kernel);
- `flax heads-major`: the same function with `vivit.models.attention.heads_major_qk/_pv` as its
  two products (what our Models 1-3 run);
- `jax.nn xla`: `jax.nn.dot_product_attention(implementation='xla')`;
- `ours float32 softmax`: `vivit.models.attention.dot_product_attention` (Model 4's halves);
- `torch sdpa` and `torch eager` when torch is installed (forward and backward; torch runs in
  this process with `--threads` intra-op threads, default: usable cores, as XLA's CPU client).

Medians of `--steps` calls after a warm-up, in `--rounds` interleaved rounds; prints one Markdown
table (ms) and each formulation's speed relative to Flax's.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any, Callable

from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)  # Runs from a checkout without `pip install -e .`.

from vivit.cli import parse_flags  # noqa: E402  (after the path is set)

PROG = "benchmarks/attention_layout.py"
FLAGS = flags.FlagValues()  # Its own flags: tests import this module beside other benchmarks.
_F = dict(flag_values=FLAGS)
_BATCH = flags.DEFINE_integer("batch_size", 2, "Leading batch size.", **_F)
_TOKENS = flags.DEFINE_integer("tokens", 197, "Tokens attended over.", **_F)
_HEADS = flags.DEFINE_integer("heads", 12, "Attention heads.", **_F)
_HEAD_DIM = flags.DEFINE_integer("head_dim", 64, "Features per head.", **_F)
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "Input dtype.", **_F)
_STEPS = flags.DEFINE_integer("steps", 20, "Timed calls per measurement.", **_F)
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Interleaved rounds.", **_F)
_THREADS = flags.DEFINE_integer("threads", 0, "Torch intra-op threads; 0: usable cores.", **_F)

Timed = dict[str, Callable[[], Any]]  # "forward" / "forward+backward" -> one blocking call


def _median_ms(call: Callable[[], Any], steps: int) -> float:
    call()  # warm-up (and compile)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def jax_formulations() -> dict[str, Timed]:
    """Every JAX formulation, jitted, as blocking forward and forward+backward calls."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from vivit.models import attention

    shape = (_BATCH.value, _TOKENS.value, _HEADS.value, _HEAD_DIM.value)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    qkv = [jax.random.normal(k, shape).astype(_DTYPE.value) for k in keys]
    functions = {
        "flax": nn.dot_product_attention,
        "flax heads-major": lambda q, k, v: nn.dot_product_attention(
            q, k, v, qk_attn_weights_einsum=attention.heads_major_qk(),
            attn_weights_value_einsum=attention.heads_major_pv()),
        "jax.nn xla": lambda q, k, v: jax.nn.dot_product_attention(q, k, v,
                                                                   implementation="xla"),
        "ours float32 softmax": attention.dot_product_attention,
    }
    timed = {}
    for name, fn in functions.items():
        forward = jax.jit(fn)
        grad = jax.jit(jax.grad(
            lambda q, k, v, fn=fn: jnp.sum(jnp.square(fn(q, k, v).astype(jnp.float32))),
            argnums=(0, 1, 2)))
        timed[name] = {
            "forward": lambda f=forward: jax.block_until_ready(f(*qkv)),
            "forward+backward": lambda g=grad: jax.block_until_ready(g(*qkv)),
        }
    return timed


def torch_formulations() -> dict[str, Timed]:
    """torch's sdpa and eager attention on the same shapes, or nothing without torch."""
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(_THREADS.value or len(os.sched_getaffinity(0)))
    dtype = getattr(torch, _DTYPE.value)
    shape = (_BATCH.value, _HEADS.value, _TOKENS.value, _HEAD_DIM.value)  # torch's layout
    generator = torch.Generator().manual_seed(0)
    qkv = [torch.randn(shape, generator=generator).to(dtype).requires_grad_() for _ in range(3)]

    def eager(q: Any, k: Any, v: Any) -> Any:
        weights = torch.softmax((q @ k.transpose(-1, -2)) / q.shape[-1] ** 0.5, dim=-1)
        return weights @ v

    timed = {}
    for name, fn in (("torch sdpa", torch.nn.functional.scaled_dot_product_attention),
                     ("torch eager", eager)):
        def forward(fn: Callable[..., Any] = fn) -> None:
            with torch.no_grad():
                fn(*qkv)

        def backward(fn: Callable[..., Any] = fn) -> None:
            fn(*qkv).float().square().sum().backward()
            for tensor in qkv:
                tensor.grad = None

        timed[name] = {"forward": forward, "forward+backward": backward}
    return timed


def measure(formulations: dict[str, Timed], rounds: int, steps: int) -> dict[str, dict[str, float]]:
    """Median ms per formulation and program; rounds interleave every formulation."""
    samples: dict[str, dict[str, list[float]]] = {
        name: {program: [] for program in timed} for name, timed in formulations.items()}
    for _ in range(rounds):
        for name, timed in formulations.items():
            for program, call in timed.items():
                samples[name][program].append(_median_ms(call, steps))
    return {name: {program: statistics.median(values) for program, values in programs.items()}
            for name, programs in samples.items()}


def report(results: dict[str, dict[str, float]]) -> str:
    """Markdown: ms per formulation and its speed relative to Flax's kernel (>1: faster)."""
    reference = results["flax"]
    lines = [f"Attention over {_TOKENS.value} tokens, batch {_BATCH.value}, {_HEADS.value} heads "
             f"of {_HEAD_DIM.value}, {_DTYPE.value} (median ms):", "",
             "| formulation | forward ms | forward+backward ms | forward vs flax | "
             "forward+backward vs flax |", "|---|---|---|---|---|"]
    for name, ms in results.items():
        lines.append(
            f"| {name} | {ms['forward']:.2f} | {ms['forward+backward']:.2f} | "
            f"{reference['forward'] / ms['forward']:.2f}x | "
            f"{reference['forward+backward'] / ms['forward+backward']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parse_flags(FLAGS, sys.argv[1:], PROG, PROG + " [flags]", __doc__)
    formulations = {**jax_formulations(), **torch_formulations()}
    print(report(measure(formulations, _ROUNDS.value, _STEPS.value)))


if __name__ == "__main__":
    main()
