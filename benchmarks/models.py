"""How fast are the four ViViT variants, and how do they compare with Scenic and Hugging Face?

    python benchmarks/models.py [--rounds=2 --steps=3 --dtype=bfloat16 --variants=spacetime]

For every variant (ViViT-B/16x2 by default; CPU-sized clips: batch 2, 8 frames of 112x112, 400
classes, float32) it measures compile time, forward time and train-step time (forward + backward +
AdamW update through `vivit.train.step`, jitted, state donated), as medians over `--steps` calls
after one warm-up call; GFLOPs from XLA's cost analysis of the compiled programs; and MFU against
the best FLOP/s of a large float32 matmul (fastest of 5 calls, taken before and after each
worker's models; the best over the run), so load from other jobs lowers MFU rather than raising
it. Hugging Face transformers' `VivitForVideoClassification` (Model 1 only; random weights from
a `VivitConfig` of the same size, no download) runs on the same shapes with
`attn_implementation` 'sdpa' and 'eager' (forward, and the train step HF's `Trainer` runs by
default: gradients clipped to the same global norm as ours, then torch's fused AdamW, Trainer's
`adamw_torch_fused` default on torch >= 2.8); with `--dtype=bfloat16` HF's forward runs under
torch's CPU autocast to bfloat16, as Trainer's `bf16=True` does (MFU still divides by the
float32 peaks). Each framework runs in its own subprocess and rounds are interleaved (ours,
[base,] [Scenic,] HF, ours, ...), so load from other jobs hits every one alike.
Torch gets `--threads` intra-op threads (default: the cores this process may use, which is also
what XLA's CPU client uses). `--base_root=PATH` (another checkout of this project, e.g. an older
commit) times its model code too, as 'base', for before/after ratios in one run.
`--scenic_dir=PATH` (a Scenic checkout; never installed or copied here) times Scenic's own ViViT
flax modules, built by its `ViViTClassificationModel` from the same model config keys, as 'Scenic',
through the same jitted forward and train step as ours (model code against model code), and as
'Scenic step' under Scenic's own optax train step (`classification_trainer.train_step`, pmapped,
what a Scenic user's step costs); it refuses a variant whose parameter tree differs from ours.
Prints two Markdown tables: times per model, and our-vs-peer speed ratios (>1: we are faster).
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Optional

import numpy as np
from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)  # Runs from a checkout without `pip install -e .`.
_BASE_PREFIX = "--base_root="
for _arg in sys.argv:  # The 'base' worker imports vivit from the other checkout.
    if _arg.startswith(_BASE_PREFIX) and "--worker=base" in sys.argv:
        sys.path.insert(0, os.path.abspath(_arg[len(_BASE_PREFIX):]))

from vivit.cli import fail, parse_flags  # noqa: E402  (after the path is set)

SCENIC_VIVIT = os.path.join("scenic", "projects", "vivit", "model.py")

PROG = "benchmarks/models.py"
FLAGS = flags.FlagValues()  # Its own flags: tests import this module beside other benchmarks.

VARIANTS = ("spacetime", "factorized_encoder", "factorized_self_attention_block",
            "factorized_dot_product_attention")
# Models 3 and 4 have no class token (paper, Section 3.3).
CLASSIFIER = {"spacetime": "token", "factorized_encoder": "token",
              "factorized_self_attention_block": "gap", "factorized_dot_product_attention": "gap"}
HF_ATTENTION = ("sdpa", "eager")
RESULT_PREFIX = "RESULT "

_F = dict(flag_values=FLAGS)


def define_attention_implementation(flag_values: flags.FlagValues) -> flags.FlagHolder:
    """--attention_implementation, for every benchmark that builds our models (this one and
    benchmarks/memory.py): model.attention_config.implementation."""
    return flags.DEFINE_enum(
        "attention_implementation", None, ["xla", "cudnn"],
        "model.attention_config.implementation of our models (unset: the config's default).",
        flag_values=flag_values)


_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS), "Attention types to time.", **_F)
_HIDDEN = flags.DEFINE_integer("hidden_size", 768, "Token width (ViViT-B: 768).", **_F)
_LAYERS = flags.DEFINE_integer("num_layers", 12, "Encoder layers (Model 2: spatial).", **_F)
_TEMPORAL_LAYERS = flags.DEFINE_integer("temporal_layers", 4, "Model 2's temporal layers.", **_F)
_HEADS = flags.DEFINE_integer("num_heads", 12, "Attention heads.", **_F)
_MLP = flags.DEFINE_integer("mlp_dim", 3072, "MLP width.", **_F)
_PATCH = flags.DEFINE_list("patch", ["16", "16", "2"], "Tubelet height,width,time.", **_F)
_BATCH = flags.DEFINE_integer("batch_size", 2, "Clips per step.", **_F)
_FRAMES = flags.DEFINE_integer("num_frames", 8, "Frames per clip.", **_F)
_IMAGE = flags.DEFINE_integer("image_size", 112, "Frame height and width.", **_F)
_CLASSES = flags.DEFINE_integer("num_classes", 400, "Output classes.", **_F)
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"],
                           "Our activation dtype (model_dtype_str); parameters stay float32.", **_F)
_IMPLEMENTATION = define_attention_implementation(FLAGS)
_STEPS = flags.DEFINE_integer("steps", 3, "Timed calls per measurement (after a warm-up).", **_F)
_ROUNDS = flags.DEFINE_integer("rounds", 2, "Interleaved rounds (a subprocess each).", **_F)
_HF = flags.DEFINE_bool("hf", True, "Also time Hugging Face ViViT (Model 1).", **_F)
_THREADS = flags.DEFINE_integer("threads", 0, "Torch intra-op threads; 0: usable cores.", **_F)
_MATMUL = flags.DEFINE_integer("matmul_size", 2048, "Side of the matmul giving the peak.", **_F)
_BASE = flags.DEFINE_string(
    "base_root", None, "Another checkout of this project (e.g. an older commit): its vivit is "
    "timed too, as 'base', to measure a change before/after in one run.", **_F)
_SCENIC = flags.DEFINE_string(
    "scenic_dir", None, f"A Scenic checkout (holding {SCENIC_VIVIT}): its ViViT is timed too, as "
    "'Scenic', on the same shapes and train step.", **_F)
_WORKER = flags.DEFINE_enum("worker", None, ["jax", "base", "scenic", "hf"],
                            "Internal: run one framework's round, print its results.", **_F)


def usable_cores() -> int:
    """Cores this process may run on (XLA's CPU client sizes its thread pool the same way)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Not Linux.
        return os.cpu_count() or 1


def timed(fn: Callable[[], Any], steps: int) -> list[float]:
    """Seconds of each of `steps` calls after one warm-up call; `fn` must block until done."""
    fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def xla_flops(compiled: Any) -> float:
    """FLOPs of a compiled XLA program (its cost analysis; one multiply-add counts two)."""
    analysis = compiled.cost_analysis()
    if isinstance(analysis, (list, tuple)):  # Older jax returns one dict per device program.
        analysis = analysis[0]
    return float(analysis.get("flops", 0.0))


def matmul_peak(size: int, steps: int) -> float:
    """Best FLOP/s of a float32 [size, size] @ [size, size] matmul under XLA on this machine.

    The fastest of at least 5 calls: a peak is what the machine can do, and the fastest call is
    the one least slowed by other jobs.
    """
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
    matmul = jax.jit(jnp.matmul)
    matmul(a, a).block_until_ready()  # Compiles outside the timed calls.
    times = timed(lambda: matmul(a, a).block_until_ready(), max(steps, 5))
    return 2.0 * size**3 / min(times)


def torch_matmul_peak(size: int, steps: int) -> float:
    """`matmul_peak` for torch (its CPU matmul library, on torch's threads): with XLA's peak
    beside it, says how much of a gap to Hugging Face is the matmul library's."""
    import torch

    a = torch.randn(size, size, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
    torch.matmul(a, a)  # Warm-up outside the timed calls.
    return 2.0 * size**3 / min(timed(lambda: torch.matmul(a, a), max(steps, 5)))


def timed_with_peak(measure: Callable[[], dict[str, Any]],
                    peak: Callable[[int, int], float] = matmul_peak
                    ) -> tuple[dict[str, Any], float]:
    """`measure()` between two matmul peaks, and the better peak: MFU then divides by a peak
    taken around the models, not minutes away from them."""
    before = peak(_MATMUL.value, _STEPS.value)
    models = measure()
    return models, max(before, peak(_MATMUL.value, _STEPS.value))


def model_config(variant: str):
    """The benchmark's config of `variant` (sizes, clip and dtype from the flags)."""
    from vivit.config import default_config

    config = default_config()
    model = config.model
    size = dict(num_layers=_LAYERS.value, num_heads=_HEADS.value, mlp_dim=_MLP.value)
    model.hidden_size = _HIDDEN.value
    model.update(size)
    model.spatial_transformer.update(size)
    model.temporal_transformer.update(dict(size, num_layers=_TEMPORAL_LAYERS.value))
    model.patches.size = tuple(int(p) for p in _PATCH.value)
    model.attention_config.type = variant
    if _IMPLEMENTATION.value is not None:
        model.attention_config.implementation = _IMPLEMENTATION.value
    model.classifier = CLASSIFIER[variant]
    config.model_dtype_str = _DTYPE.value
    config.dataset_configs.num_classes = _CLASSES.value
    config.dataset_configs.num_frames = _FRAMES.value
    config.dataset_configs.crop_size = _IMAGE.value
    config.batch_size = _BATCH.value
    config.optimizer = "adamw"
    config.lr_configs.warmup_steps = 1
    return config


def clip_shape() -> tuple[int, int, int, int, int]:
    return (_BATCH.value, _FRAMES.value, _IMAGE.value, _IMAGE.value, 3)


@dataclasses.dataclass
class CompiledModel:
    """A module's jitted forward and train step, compiled for the benchmark's shapes."""

    state: Any  # vivit.train.state.TrainState (donated to the train step)
    batch: dict[str, Any]
    forward: Any  # compiled (params, video) -> logits
    train: Any  # compiled (state, batch) -> (state, metrics, finite)
    compile_forward: float  # seconds
    compile_train: float


def compile_forward_and_train(model: Any, config: Any) -> CompiledModel:
    """Compiles one flax module (ours or Scenic's) with our train step (`vivit.train.step`:
    softmax cross-entropy, AdamW, state donated), so the module is the only difference between
    peers."""
    import jax

    from vivit.tasks import task_for_config
    from vivit.train import mesh as mesh_lib, optimizer as opt_lib
    from vivit.train import state as state_lib, step as step_lib

    mesh = mesh_lib.build_mesh(config)
    optimizer, schedule = opt_lib.build_optimizer(config, total_updates=1000)
    _, shardings, create = state_lib.plan_train_state(
        model, optimizer, (1,) + clip_shape()[1:], jax.random.PRNGKey(0), mesh)
    state = create()
    rng = np.random.default_rng(0)
    batch = mesh_lib.global_batch(mesh, {
        "inputs": rng.uniform(-1, 1, clip_shape()).astype(np.float32),
        "label": rng.integers(0, _CLASSES.value, _BATCH.value).astype(np.int32),
        "batch_mask": np.ones(_BATCH.value, np.float32)})

    forward = jax.jit(lambda params, video: model.apply({"params": params}, video, train=False))
    start = time.perf_counter()
    forward_compiled = forward.lower(state.params, batch["inputs"]).compile()
    compile_forward = time.perf_counter() - start
    train_step = step_lib.jit_train_step(
        step_lib.make_train_step(model, optimizer, task_for_config(config), schedule),
        mesh, shardings)
    start = time.perf_counter()
    train_compiled = train_step.lower(state, batch).compile()
    compile_train = time.perf_counter() - start
    return CompiledModel(state, batch, forward_compiled, train_compiled, compile_forward,
                         compile_train)


def forward_and_train_times(model: Any, config: Any, steps: int) -> dict[str, Any]:
    """Compile, forward and train-step measurements of one flax module (ours or Scenic's)."""
    compiled = compile_forward_and_train(model, config)
    state, batch = compiled.state, compiled.batch
    forward_times = timed(
        lambda: compiled.forward(state.params, batch["inputs"]).block_until_ready(), steps)
    holder = {"state": state}

    def one_step() -> None:
        holder["state"], _, finite = compiled.train(holder["state"], batch)
        finite.block_until_ready()

    train_times = timed(one_step, steps)
    return dict(compile_forward=compiled.compile_forward, compile_train=compiled.compile_train,
                forward=forward_times, train=train_times,
                forward_flops=xla_flops(compiled.forward),
                train_flops=xla_flops(compiled.train))


def jax_variant(variant: str, steps: int) -> dict[str, Any]:
    """Compile, forward and train-step measurements of one variant of our model."""
    from vivit.models import build_model
    from vivit.tasks import task_for_config

    config = model_config(variant)
    return forward_and_train_times(build_model(config, task_for_config(config)), config, steps)


def jax_round(label: str = "ours") -> dict[str, Any]:
    import vivit

    models, peak = timed_with_peak(
        lambda: {f"{label} {v}": jax_variant(v, _STEPS.value) for v in _VARIANTS.value})
    return {"peak": peak, "vivit": os.path.dirname(os.path.dirname(vivit.__file__)),
            "models": models}


def check_scenic_dir(prog: str, path: Optional[str]) -> None:
    """Fails in one line, before any work, unless `path` holds Scenic's ViViT model code."""
    if path is None or not os.path.isfile(os.path.join(path, SCENIC_VIVIT)):
        fail(prog, f"--scenic_dir={path!r} is not a Scenic checkout (no {SCENIC_VIVIT}).")


def scenic_classification_model(config: Any, scenic_dir: str, **training: Any) -> Any:
    """Scenic's `ViViTClassificationModel` built from our `model` section (our keys are
    Scenic's, so the same section describes both) plus any `training` keys of Scenic's config."""
    import ml_collections

    if scenic_dir not in sys.path:
        sys.path.insert(0, scenic_dir)
    from scenic.projects.vivit import model as scenic_vivit

    scenic_config = ml_collections.ConfigDict(
        {"model": config.model, "model_dtype_str": config.model_dtype_str, **training})
    return scenic_vivit.ViViTClassificationModel(
        scenic_config, {"num_classes": config.dataset_configs.num_classes})


def scenic_module(config: Any, scenic_dir: str) -> Any:
    """Scenic's own ViViT flax module for `config`."""
    return scenic_classification_model(config, scenic_dir).flax_model


def parameter_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """Every parameter's path and shape, from an abstract init on one benchmark clip."""
    import jax
    import jax.numpy as jnp

    clip = jnp.zeros((1,) + clip_shape()[1:], jnp.float32)
    params = jax.eval_shape(
        lambda: model.init(jax.random.PRNGKey(0), clip, train=False))["params"]
    return {jax.tree_util.keystr(path): tuple(leaf.shape)
            for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}


def parameter_mismatch(ours: Any, theirs: Any) -> list[str]:
    """Parameters the two modules do not share with the same shape (empty: the same tree)."""
    a, b = parameter_shapes(ours), parameter_shapes(theirs)
    return sorted(f"{name}: ours {a.get(name)}, theirs {b.get(name)}"
                  for name in set(a) | set(b) if a.get(name) != b.get(name))


def scenic_train_step_times(config: Any, scenic_dir: str, steps: int) -> dict[str, Any]:
    """Scenic's whole train step: its ViViT module under Scenic's own optax train step
    (`scenic/train_lib/classification_trainer.train_step`: loss, gradient, pmean, clipping, the
    optax update, L2 norms of gradients, parameters and updates, metrics), pmapped over one
    device with state and batch donated, as Scenic's trainer runs it. Scenic's ViViT trainer
    (`projects/vivit/train_utils.py`) calls the removed `flax.optim` and cannot run; this is the
    step Scenic trains its classification models with today. Same optimizer as ours: AdamW
    (b1, b2, eps and decoupled weight decay of our config, on kernels), clipping at
    config.max_grad_norm, our learning-rate schedule."""
    import functools

    import jax
    import jax.numpy as jnp
    from flax import jax_utils

    from vivit.train import optimizer as opt_lib

    adam = config.optimizer_configs
    model = scenic_classification_model(
        config, scenic_dir, max_grad_norm=config.max_grad_norm, optimizer="adam",
        optimizer_configs={"beta1": adam.beta1, "beta2": adam.beta2, "epsilon": adam.epsilon,
                           "weight_decay": adam.weight_decay})
    scenic_config = model.config
    from scenic.train_lib import (  # importable once the helper above put Scenic on the path
        classification_trainer, optimizers, train_utils)

    _, schedule = opt_lib.build_optimizer(config, total_updates=1000)
    clip = jnp.zeros((1,) + clip_shape()[1:], jnp.float32)
    params = model.flax_model.init(jax.random.PRNGKey(0), clip, train=False)["params"]
    tx = optimizers.get_optimizer(
        optimizers.get_optax_optimizer_config(scenic_config), schedule, params=params)
    state = jax_utils.replicate(train_utils.TrainState(
        global_step=0, opt_state=tx.init(params), tx=tx, params=params, model_state={},
        rng=jax.random.PRNGKey(1)))
    train_step = jax.pmap(
        functools.partial(classification_trainer.train_step, flax_model=model.flax_model,
                          loss_fn=model.loss_function, lr_fn=schedule,
                          metrics_fn=model.get_metrics_fn("train"), config=scenic_config),
        axis_name="batch", donate_argnums=(0, 1))
    rng = np.random.default_rng(0)
    batch = {"inputs": rng.uniform(-1, 1, (1,) + clip_shape()).astype(np.float32),
             "label": rng.integers(0, _CLASSES.value, (1, _BATCH.value)).astype(np.int32),
             "batch_mask": np.ones((1, _BATCH.value), np.float32)}
    start = time.perf_counter()
    compiled = train_step.lower(state, batch).compile()
    compile_train = time.perf_counter() - start
    holder = {"state": state}

    def one_step() -> None:  # The host batch goes to the device each call (it is donated).
        holder["state"], _, logs = compiled(holder["state"], batch)
        jax.block_until_ready(logs)

    return dict(compile_train=compile_train, train=timed(one_step, steps),
                train_flops=xla_flops(compiled))


def scenic_round() -> dict[str, Any]:
    """Scenic's ViViT for every variant, after checking its parameters are ours (name, shape)."""
    from vivit.models import build_model
    from vivit.tasks import task_for_config

    scenic_dir = os.path.abspath(_SCENIC.value)

    def measure() -> dict[str, Any]:
        models = {}
        for variant in _VARIANTS.value:
            config = model_config(variant)
            scenic = scenic_module(config, scenic_dir)
            mismatch = parameter_mismatch(build_model(config, task_for_config(config)), scenic)
            if mismatch:
                fail(PROG, f"Scenic's {variant} is not our model ({len(mismatch)} parameters "
                           f"differ, e.g. {mismatch[0]}); refusing to compare.")
            models[f"Scenic {variant}"] = forward_and_train_times(scenic, config, _STEPS.value)
            models[f"Scenic step {variant}"] = scenic_train_step_times(
                config, scenic_dir, _STEPS.value)
        return models

    models, peak = timed_with_peak(measure)
    return {"peak": peak, "scenic": scenic_dir, "models": models}


def hf_model(attention: str) -> tuple[Any, Any, Any]:
    """(model, video, labels): HF's ViViT (Model 1) of the flags' size with `attention`
    ('sdpa' or 'eager'), random weights, in train mode, and one batch; torch's threads set."""
    import torch
    from transformers import VivitConfig, VivitForVideoClassification

    torch.set_num_threads(_THREADS.value or usable_cores())
    torch.manual_seed(0)
    patch = [int(p) for p in _PATCH.value]
    config = VivitConfig(
        image_size=_IMAGE.value, num_frames=_FRAMES.value,
        tubelet_size=[patch[2], patch[0], patch[1]], hidden_size=_HIDDEN.value,
        num_hidden_layers=_LAYERS.value, num_attention_heads=_HEADS.value,
        # flax's nn.gelu is the tanh approximation, as torch's gelu(approximate='tanh').
        intermediate_size=_MLP.value, hidden_act="gelu_pytorch_tanh",
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        num_labels=_CLASSES.value, attn_implementation=attention)
    model = VivitForVideoClassification(config)
    video = torch.rand(_BATCH.value, _FRAMES.value, 3, _IMAGE.value, _IMAGE.value) * 2 - 1
    labels = torch.randint(0, _CLASSES.value, (_BATCH.value,))
    return model.train(), video, labels


def hf_optimizer_update(model: Any) -> Callable[[], None]:
    """The update transformers' Trainer applies by default, as a call: clip the gradients to
    the global norm ours clips to (Trainer's max_grad_norm default is also 1.0), then torch's
    fused AdamW (Trainer's 'adamw_torch_fused' default on torch >= 2.8), then drop the grads."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    max_grad_norm = model_config("spacetime").max_grad_norm

    def update() -> None:
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return update


def hf_precision() -> Any:
    """The context HF's calls run in: with `--dtype=bfloat16`, torch's CPU autocast to
    bfloat16 (float32 parameters, bfloat16 products), what transformers' Trainer runs with
    `bf16=True`; otherwise none (float32)."""
    import contextlib

    import torch

    if _DTYPE.value == "bfloat16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def hf_calls(attention: str) -> dict[str, Callable[[], None]]:
    """HF's ViViT (Model 1) with `attention` as two calls: 'forward' (no grad) and 'train step'
    (forward, backward and its Trainer's default update)."""
    import torch

    model, video, labels = hf_model(attention)
    update = hf_optimizer_update(model)

    def forward() -> None:
        with torch.no_grad(), hf_precision():
            model(pixel_values=video)

    def train_step() -> None:
        with hf_precision():
            loss = model(pixel_values=video, labels=labels).loss
        loss.backward()
        update()

    return {"forward": forward, "train step": train_step}


def hf_round() -> dict[str, Any]:
    """Forward and train-step times of HF's ViViT (Model 1) with each attention kernel."""
    import torch

    results = {}

    def measure() -> dict[str, Any]:
        for attention in HF_ATTENTION:
            calls = hf_calls(attention)
            forward_times = timed(calls["forward"], _STEPS.value)
            train_times = timed(calls["train step"], _STEPS.value)
            results[f"HF {attention} spacetime"] = dict(forward=forward_times, train=train_times)
        return results

    results, peak = timed_with_peak(measure, torch_matmul_peak)
    return {"threads": torch.get_num_threads(), "models": results, "peak": peak}


def run_worker(worker: str) -> dict[str, Any]:
    """One round of one framework in a fresh subprocess; returns its parsed results."""
    argv = [arg for arg in sys.argv[1:] if not arg.startswith("--worker")]
    result = subprocess.run([sys.executable, os.path.abspath(__file__), *argv,
                             f"--worker={worker}"], capture_output=True, text=True)
    if result.returncode != 0:
        usage = f"{PROG}: error: "  # A worker's own refusal (e.g. not the same model): one line.
        refusals = [l for l in result.stderr.splitlines() if l.startswith(usage)]
        if refusals:
            fail(PROG, f"the {worker} worker: {refusals[-1][len(usage):]}")
        raise RuntimeError(f"The {worker} worker failed:\n{result.stderr[-3000:]}")
    line = next(l for l in result.stdout.splitlines() if l.startswith(RESULT_PREFIX))
    return json.loads(line[len(RESULT_PREFIX):])


def merge(rounds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model: every timed sample of every round, and the medians of the single values."""
    merged: dict[str, dict[str, Any]] = {}
    for result in rounds:
        for name, values in result["models"].items():
            entry = merged.setdefault(name, {})
            for key, value in values.items():
                entry.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return {name: {key: statistics.median(values) for key, values in entry.items()}
            for name, entry in merged.items()}


def _cell(measured: dict[str, float], key: str, text: Callable[[float], str]) -> str:
    """A table cell: the measured value as text, or '-' for what this peer does not have."""
    return text(measured[key]) if key in measured else "-"


def ratio(ours: float, theirs: float) -> str:
    return f"{theirs / ours:.2f}x"


def report(models: dict[str, dict[str, float]], peak: float, threads: int | None,
           torch_peak: float | None = None) -> str:
    """The two Markdown tables (times, then ratios) and the measured peaks (MFU uses XLA's)."""
    ours_spacetime = models.get("ours spacetime")
    torch_text = f"; torch: {torch_peak / 1e9:.1f} GFLOP/s" if torch_peak else ""
    lines = [f"matmul peak (float32, XLA): {peak / 1e9:.1f} GFLOP/s{torch_text}; torch threads: "
             f"{threads if threads is not None else '-'}; XLA CPU threads: {usable_cores()}",
             "",
             "| model | compile fwd s | compile train s | fwd ms | train ms | fwd GFLOPs "
             "| train GFLOPs | MFU fwd | MFU train |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, m in models.items():
        # HF has no XLA program: its MFU counts our Model 1's FLOPs (the same computation).
        flops = ours_spacetime if name.startswith("HF") else m
        cells = [_cell(m, key, lambda v: f"{v:.1f}")
                 for key in ("compile_forward", "compile_train")]
        cells += [_cell(m, key, lambda v: f"{v * 1e3:.0f}") for key in ("forward", "train")]
        for flops_key in ("forward_flops", "train_flops"):
            cells.append(_cell(flops or {}, flops_key, lambda v: f"{v / 1e9:.1f}"))
        for time_key, flops_key in (("forward", "forward_flops"), ("train", "train_flops")):
            seconds, work = m.get(time_key), (flops or {}).get(flops_key)
            cells.append(f"{work / seconds / peak:.0%}" if seconds and work else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| ours vs | fwd speed ratio | train speed ratio |", "|---|---|---|"]
    for name, m in models.items():
        if name.startswith("ours"):
            continue  # Peers of ours: HF, Scenic and the base checkout.
        variant = name.split()[-1]
        ours = models.get(f"ours {variant}")
        if ours is None:
            continue
        forward = ratio(ours["forward"], m["forward"]) if "forward" in m else "-"
        lines.append(f"| {name} | {forward} | {ratio(ours['train'], m['train'])} |")
    return "\n".join(lines)


def main() -> None:
    unknown = sorted(set(_VARIANTS.value) - set(VARIANTS))
    if unknown:
        fail(PROG, f"--variants: unknown {unknown}; expected some of {list(VARIANTS)}.")
    if _WORKER.value is not None:
        run = {"jax": jax_round, "base": lambda: jax_round("base"), "scenic": scenic_round,
               "hf": hf_round}[_WORKER.value]
        print(RESULT_PREFIX + json.dumps(run()), flush=True)
        return
    if _BASE.value is not None and not os.path.isdir(os.path.join(_BASE.value, "vivit")):
        fail(PROG, f"--base_root={_BASE.value!r} has no vivit package.")
    if _SCENIC.value is not None:
        check_scenic_dir(PROG, _SCENIC.value)
    workers = ["jax"] + (["base"] if _BASE.value else []) + (["scenic"] if _SCENIC.value else [])
    workers += ["hf"] if _HF.value and "spacetime" in _VARIANTS.value else []
    results: dict[str, list[dict[str, Any]]] = {worker: [] for worker in workers}
    for round_index in range(_ROUNDS.value):
        for worker in workers:
            print(f"round {round_index + 1}/{_ROUNDS.value}: {worker}", flush=True)
            results[worker].append(run_worker(worker))
    models = {}
    for worker in workers:
        models.update(merge(results[worker]))
    jax_workers = ("jax", "base", "scenic")  # Each measured the matmul peak in its rounds.
    peak = max(r["peak"] for w in jax_workers for r in results.get(w, []))
    threads = results["hf"][0]["threads"] if "hf" in results else None
    torch_peak = max(r["peak"] for r in results["hf"]) if "hf" in results else None
    print(f"\nclip {clip_shape()}, dtype {_DTYPE.value}, hidden {_HIDDEN.value}, "
          f"layers {_LAYERS.value}, heads {_HEADS.value}, mlp {_MLP.value}, patch "
          f"{','.join(_PATCH.value)}; attention implementation "
          f"{_IMPLEMENTATION.value or 'default'}; medians of {_STEPS.value} calls x "
          f"{_ROUNDS.value} rounds")
    for worker in ("jax", "base"):
        if worker in results:
            label = "ours" if worker == "jax" else "base"
            print(f"{label}: vivit from {results[worker][0]['vivit']}")
    if "scenic" in results:
        print(f"Scenic: scenic from {results['scenic'][0]['scenic']}")
    print(report(models, peak, threads, torch_peak))


if __name__ == "__main__":
    parse_flags(FLAGS, sys.argv[1:], PROG, f"python {PROG} [flags]", __doc__)
    main()
