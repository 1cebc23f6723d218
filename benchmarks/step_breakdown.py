"""Where does a train step's time go? Forward, forward + backward, and the whole step, per variant.

    python benchmarks/step_breakdown.py [--variants=spacetime --rounds=2 --steps=3]

Takes every size flag of benchmarks/models.py (ViViT-B/16x2 on batch 2, 8 frames of 112x112 by
default). For each variant it compiles four programs of our model and times them in turn,
`--rounds` times, `--steps` calls each after one warm-up: the forward pass; forward + backward
(`jax.value_and_grad` of the training loss, nothing applied); the train step of
`vivit.train.step` (forward + backward, gradient norm, finite-loss guard, AdamW update,
metrics); and the optimizer's update alone (the same optax chain, clipping included with its own
gradient norm, on a copy of the parameters, donated). With `--hf` (the default) Hugging Face's
ViViT (Model 1, sdpa) gets the same four rows afterwards, in the same process: torch's forward
(no grad), forward + backward, the step its Trainer runs by default (clipping, fused AdamW) and
that update alone on fixed gradients (`benchmarks/models.py` builds both). Prints a Markdown
table of medians: the backward pass is forward+backward minus forward, "rest of the step" is the
step minus forward+backward, and what the rest spends beyond the optimizer update is the
gradient norm, the finite-loss guard and the metrics. XLA's FLOPs show what each part should
cost: the backward pass of a dense network is about twice the forward's FLOPs.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
from typing import Any, Callable

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)  # benchmarks/models.py, beside this file.
sys.path.insert(0, os.path.dirname(_HERE))  # Runs from a checkout without `pip install -e .`.

import models as model_bench  # noqa: E402  (after the path is set)
from vivit.cli import parse_flags  # noqa: E402

PROG = "benchmarks/step_breakdown.py"


def programs(variant: str) -> tuple[dict[str, Callable[[], None]], dict[str, float]]:
    """The four timed calls of `variant` and their XLA FLOPs, compiled and warmed up."""
    calls, compiled = compiled_programs(variant)
    return calls, {name: model_bench.xla_flops(program) for name, program in compiled.items()}


def compiled_programs(variant: str) -> tuple[dict[str, Callable[[], None]], dict[str, Any]]:
    """The four timed calls of `variant`, warmed up, and the compiled XLA program of each."""
    import jax
    import jax.numpy as jnp
    import optax

    from vivit.models import build_model
    from vivit.train import losses, optimizer as opt_lib

    config = model_bench.model_config(variant)
    model = build_model(config)
    compiled = model_bench.compile_forward_and_train(model, config)
    batch, loss_fn = compiled.batch, losses.loss_fn_for_config(config)

    def loss(params: Any) -> jax.Array:
        logits = model.apply({"params": params}, batch["inputs"], train=True)
        return loss_fn(logits, batch["label"], batch["batch_mask"])

    gradient = jax.jit(jax.value_and_grad(loss)).lower(compiled.state.params).compile()
    optimizer, _ = opt_lib.build_optimizer(config, total_updates=1000)

    def update(params: Any, opt_state: Any, grads: Any) -> tuple[Any, Any]:
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    # The optimizer alone, on its own copy of the parameters (donated, as in the train step).
    own = {"params": jax.tree.map(jnp.array, compiled.state.params)}
    own["opt_state"] = optimizer.init(own["params"])
    grads = jax.tree.map(lambda p: jnp.full_like(p, 1e-3), own["params"])
    update_compiled = jax.jit(update, donate_argnums=(0, 1)).lower(
        own["params"], own["opt_state"], grads).compile()
    holder = {"state": compiled.state}  # The train step donates its state.

    def optimizer_update() -> None:
        own["params"], own["opt_state"] = update_compiled(own["params"], own["opt_state"], grads)
        jax.block_until_ready(own["params"])

    def train_step() -> None:
        holder["state"], _, finite = compiled.train(holder["state"], batch)
        finite.block_until_ready()

    calls = {
        "forward": lambda: compiled.forward(
            holder["state"].params, batch["inputs"]).block_until_ready(),
        "forward+backward": lambda: jax.block_until_ready(gradient(holder["state"].params)),
        "train step": train_step,
        "optimizer update": optimizer_update,
    }
    for call in calls.values():
        call()  # Warm-up.
    return calls, {"forward": compiled.forward, "forward+backward": gradient,
                   "train step": compiled.train, "optimizer update": update_compiled}


def hf_programs() -> tuple[dict[str, Callable[[], None]], dict[str, float]]:
    """The same four calls for Hugging Face's ViViT (Model 1, sdpa attention), with the update
    its Trainer applies by default (clipping, fused AdamW); no XLA FLOPs (NaN)."""
    calls = model_bench.hf_calls("sdpa")
    return calls, {name: float("nan") for name in calls}


def breakdown(label: str, calls: dict[str, Callable[[], None]], flops: dict[str, float],
              rounds: int, steps: int) -> list[str]:
    """Markdown rows for one model: medians in ms, GFLOPs, and the derived parts."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):  # Interleaved, so load drifts hit all four alike.
        for name, call in calls.items():
            times[name] += model_bench.timed(call, steps)
    ms = {name: statistics.median(t) * 1e3 for name, t in times.items()}
    def shown(value: float, spec: str) -> str:  # NaN: no XLA FLOPs (Hugging Face's rows).
        return "-" if math.isnan(value) else format(value, spec)

    rows = [f"| {label} | {name} | {ms[name]:.1f} | {shown(flops[name] / 1e9, '.4g')} |"
            for name in ms]
    backward = ms["forward+backward"] - ms["forward"]
    rest = ms["train step"] - ms["forward+backward"]
    backward_gflops = (flops["forward+backward"] - flops["forward"]) / 1e9
    rest_gflops = (flops["train step"] - flops["forward+backward"]) / 1e9
    flops_ratio = shown(flops["forward+backward"] / flops["forward"] - 1, ".2f")
    rows.append(f"| {label} | backward (derived) | {backward:.1f} | "
                f"{shown(backward_gflops, '.4g')} |")
    rows.append(f"| {label} | rest of the step (derived) | {rest:.1f} | "
                f"{shown(rest_gflops, '.4g')} |")
    rows.append(f"| {label} | backward / forward time | {backward / ms['forward']:.2f}x | "
                f"{flops_ratio}{'' if flops_ratio == '-' else 'x FLOPs'} |")
    rows.append(f"| {label} | rest / step | {rest / ms['train step']:.0%} | |")
    rows.append(f"| {label} | rest minus the optimizer update (derived) | "
                f"{rest - ms['optimizer update']:.1f} | |")
    return rows


def main() -> None:
    flag_values = model_bench.FLAGS
    print(f"clip {model_bench.clip_shape()}, dtype {flag_values.dtype}; medians of "
          f"{flag_values.steps} calls x {flag_values.rounds} rounds after a warm-up")
    print("| variant | program | ms | GFLOPs |\n|---|---|---|---|")
    for variant in flag_values.variants:
        calls, flops = programs(variant)
        print("\n".join(breakdown(variant, calls, flops, flag_values.rounds, flag_values.steps)),
              flush=True)
    if flag_values.hf:  # After ours, in the same process: XLA's threads are idle by then.
        calls, flops = hf_programs()
        print("\n".join(breakdown("HF sdpa spacetime", calls, flops, flag_values.rounds,
                                   flag_values.steps)), flush=True)


if __name__ == "__main__":
    parse_flags(model_bench.FLAGS, sys.argv[1:], PROG, f"python {PROG} [flags]", __doc__)
    main()
