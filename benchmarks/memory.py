"""How much accelerator memory does a ViViT train step need, and which batch fits which device?

    python benchmarks/memory.py [--markdown=docs/hardware.md]

Compiles (never runs, except --step_time) the trainer's own train step on one device:
`trainer.build_run(config, ...).train_step`, the jitted step the training loop runs (uint8 clips
converted on the device, forward, backward, gradient norm, clipping, the config's optimiser
update under the finite-loss guard, metrics; the state donated). The optimiser is the config's,
SGD with momentum (the paper's), or --optimizer. Its peak memory is XLA's compiled memory
analysis: arguments + outputs - aliased (donated) + temporaries. Parameters and optimiser state
are float32; activations are --dtype.

Sections (each can be switched off):
- --variants_size: every attention type with and without rematerialisation (`model.remat`,
  `model.remat_policy`), at one size and batch.
- --sizes: ViViT-B/L/H at --num_frames x --crop_size, batches --batches: the memory per clip (the
  slope between the batches), the fixed part (parameters, optimiser state), and the per-device
  batch that fits each device in DEVICES_GB after --headroom; remat rows compile scanned layers
  (--size_layers), the only place XLA's CPU compiler keeps remat's saving.
- --compile_size: compile time of one train step with unrolled vs scanned layers
  (`model.scan_layers`), without and with remat (--compile_remat_policies).
- --step_time: executes Model 1 at a CPU-sized clip to time the extra cost of remat per clip,
  with unrolled and with scanned layers.

XLA's CPU compiler plans the buffers here; TPU and GPU compilers fuse and lay out differently (and
GPUs may use a flash-attention kernel), so read the tables as estimates and keep the headroom.
`--sizes=Ti/16x2 --variants_size=Ti/16x2 --compile_size=Ti/16x2 --num_frames=4 --crop_size=32`
runs in seconds (the test).
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import math
import os
import platform
import sys
import tempfile
import time
from typing import Any, Callable

from absl import flags

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)  # Runs from a checkout without `pip install -e .`.

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from models import define_attention_implementation, timed  # noqa: E402  (benchmarks/models.py)
from vivit.config import default_config  # noqa: E402
from vivit.cli import fail, parse_flags  # noqa: E402
from vivit.train import pixels  # noqa: E402
from vivit.models import apply_size  # noqa: E402
from vivit.train import mesh as mesh_lib  # noqa: E402

GIB = 1024 ** 3
# Memory per device (per TPU chip: v3 has 2 cores of 16 GB each, counted per core; v4 and v5e
# chips are one device each), in GB as the vendors quote it.
DEVICES_GB = {
    "GPU 16 GB (V100, T4)": 16, "GPU 40 GB (A100-40GB)": 40, "GPU 80 GB (A100/H100-80GB)": 80,
    "TPU v3 core (16 GB)": 16, "TPU v4 chip (32 GB)": 32, "TPU v5e chip (16 GB)": 16,
}
VARIANTS = ("spacetime", "factorized_encoder", "factorized_self_attention_block",
            "factorized_dot_product_attention")
SHORT = {"spacetime": "Model 1 spacetime", "factorized_encoder": "Model 2 factorised encoder",
         "factorized_self_attention_block": "Model 3 factorised self-attention",
         "factorized_dot_product_attention": "Model 4 factorised dot-product"}
NUM_CLASSES = 400
# Length of the learning-rate schedule the step is built for; it does not change the program.
TOTAL_STEPS = 1000

PROG = "benchmarks/memory.py"
FLAGS = flags.FlagValues()  # Its own flags: tests import this module beside other benchmarks.
_F = dict(flag_values=FLAGS)
_VARIANTS_SIZE = flags.DEFINE_string(
    "variants_size", "B/16x2", "Size of the per-variant remat table ('' skips it).", **_F)
_VARIANTS_BATCH = flags.DEFINE_integer("variants_batch", 2, "Batch of the per-variant table.", **_F)
_POLICIES = flags.DEFINE_list(
    "remat_policies", ["none", "full"],
    "Remat settings of the per-variant table: none or a model.remat_policy value.", **_F)
_SIZES = flags.DEFINE_list("sizes", ["B/16x2", "L/16x2", "H/14x2"],
                           "Sizes of the per-clip table ('' skips it).", **_F)
_SIZE_VARIANTS = flags.DEFINE_list("size_variants", ["spacetime", "factorized_encoder"],
                                   "Attention types of the per-clip table.", **_F)
_SIZE_POLICIES = flags.DEFINE_list("size_policies", ["none", "full"],
                                   "Remat settings of the per-clip table.", **_F)
_SIZE_LAYERS = flags.DEFINE_enum(
    "size_layers", "auto", ["auto", "unrolled", "scanned"],
    "Layers of the per-clip table: auto scans the remat rows (XLA's CPU compiler keeps remat's "
    "saving only in a scan) and unrolls the others.", **_F)
_VERIFY = flags.DEFINE_bool(
    "verify_batches", True,
    "Compile each fitting batch of the per-clip table and lower it until XLA's plan fits.", **_F)
_BATCHES = flags.DEFINE_list("batches", ["1", "2"], "Two batches: the per-clip slope.", **_F)
_NUM_FRAMES = flags.DEFINE_integer("num_frames", 32, "Frames per clip.", **_F)
_CROP = flags.DEFINE_integer("crop_size", 224, "Clip height and width.", **_F)
_DTYPE = flags.DEFINE_enum("dtype", "bfloat16", ["float32", "bfloat16"],
                           "Activation dtype (model_dtype_str); parameters stay float32.", **_F)
_SCAN = flags.DEFINE_bool(
    "scan_layers", False,
    "Compile the per-variant table with scanned layers (faster to compile, more memory without "
    "remat).", **_F)
_IMPLEMENTATION = define_attention_implementation(FLAGS)
_OPTIMIZER = flags.DEFINE_enum(
    "optimizer", None, ["momentum", "adam", "adamw"],
    "config.optimizer of the train step (unset: the config's default, momentum).", **_F)
_HEADROOM = flags.DEFINE_float("headroom", 0.15,
                               "Fraction of device memory left free (runtime, fragmentation).",
                               **_F)
_COMPILE_SIZE = flags.DEFINE_string(
    "compile_size", "L/16x2", "Size of the scanned-vs-unrolled compile-time row ('' skips).", **_F)
_COMPILE_POLICIES = flags.DEFINE_list(
    "compile_remat_policies", ["none", "full"],
    "Remat settings of the compile-time rows: none or a model.remat_policy value.", **_F)
_STEP_TIME = flags.DEFINE_bool(
    "step_time", True, "Time Model 1 train steps with and without remat (executes them).", **_F)
_STEP_SIZE = flags.DEFINE_string("step_size", "B/16x2", "Model size of the timed steps.", **_F)
_STEP_CLIP = flags.DEFINE_list("step_clip", ["8", "112"],
                               "Frames and crop size of the timed steps (CPU-sized).", **_F)
_NUM_LAYERS = flags.DEFINE_integer(
    "num_layers", 0, "Override the depth of every encoder (0 keeps the size's; tests use 1).", **_F)
_MARKDOWN = flags.DEFINE_string("markdown", None, "Also write the tables to this Markdown file.",
                                **_F)


@dataclasses.dataclass
class Setting:
    """One compiled train step."""

    size: str
    attention: str
    remat: str  # 'none' or a model.remat_policy
    batch: int
    scan_layers: bool
    num_frames: int
    crop_size: int
    dtype: str


def model_config(setting: Setting) -> ml_collections.ConfigDict:
    config = default_config()
    apply_size(config.model, setting.size)
    config.model.attention_config.type = setting.attention
    if setting.attention in ("factorized_self_attention_block",
                             "factorized_dot_product_attention"):
        config.model.classifier = "gap"
    if _NUM_LAYERS.value:
        for section in (config.model, config.model.spatial_transformer,
                        config.model.temporal_transformer):
            section.num_layers = _NUM_LAYERS.value
    config.model.remat = setting.remat != "none"
    config.model.remat_policy = "full" if setting.remat == "none" else setting.remat
    config.model.scan_layers = setting.scan_layers
    config.model_dtype_str = setting.dtype
    if _IMPLEMENTATION.value is not None:
        config.model.attention_config.implementation = _IMPLEMENTATION.value
    if _OPTIMIZER.value is not None:
        config.optimizer = _OPTIMIZER.value
    config.batch_size = setting.batch
    config.dataset_configs.num_classes = NUM_CLASSES
    config.dataset_configs.num_frames = setting.num_frames
    config.dataset_configs.crop_size = setting.crop_size
    return config


def trainer_run(setting: Setting) -> Any:
    """The trainer's `Run` for `setting` on one device (the tables are per device): model,
    optimiser, the state's abstract layout and `run.train_step`; no state allocated."""
    import trainer  # After the path is set; it imports the whole package.
    from vivit.tasks import task_for_config

    config = model_config(setting)
    return trainer.build_run(config, task_for_config(config), TOTAL_STEPS,
                             mesh_lib.build_mesh(config, jax.devices()[:1]))


def host_batch(run: Any, batch: int, rng: np.random.Generator | None = None
               ) -> dict[str, np.ndarray]:
    """A training batch as the data pipeline hands it to the loop: uint8 clips, int32 labels and
    the mask; zeros (never read, only their shapes) without `rng`."""
    data = run.config.dataset_configs
    shape = (batch, data.num_frames, data.crop_size, data.crop_size, 3)
    if rng is None:
        inputs, labels = np.zeros(shape, np.uint8), np.zeros(batch, np.int32)
    else:
        inputs = rng.integers(0, 256, shape, dtype=np.uint8)
        labels = rng.integers(0, data.num_classes, batch, dtype=np.int32)
    return {"inputs": inputs, "label": labels, "batch_mask": np.ones(batch, np.float32)}


def abstract_batch(run: Any, batch: int) -> dict[str, jax.ShapeDtypeStruct]:
    """`host_batch`'s shapes and dtypes, split over the mesh as `global_batch` splits it."""
    sharding = mesh_lib.batch_sharding(run.mesh)
    return {name: jax.ShapeDtypeStruct(array.shape, array.dtype, sharding=sharding)
            for name, array in host_batch(run, batch).items()}


@dataclasses.dataclass
class Compiled:
    setting: Setting
    peak_bytes: int  # XLA CPU's plan: arguments + outputs - donated + temporaries
    argument_bytes: int
    temp_bytes: int
    lower_seconds: float  # tracing the step and lowering it to StableHLO (Python)
    xla_seconds: float  # XLA's passes and code generation
    residual_bytes: int  # what JAX's backward pass keeps from the forward pass (remat policy)

    @property
    def compile_seconds(self) -> float:
        return self.lower_seconds + self.xla_seconds


def residual_bytes(run: Any, batch: dict[str, jax.ShapeDtypeStruct]) -> int:
    """Bytes of the residuals the backward pass keeps (parameters included), as JAX's autodiff
    plans them under the remat policy: the leaves of the VJP closure of the run's loss.
    Device-independent: it is what rematerialisation changes, whatever a compiler does
    afterwards."""

    def closure(params: Any, batch: dict[str, jax.Array], rng: jax.Array) -> Any:
        inputs = pixels.to_model_range(batch["inputs"], run.zero_centering)

        def loss(p: Any) -> jax.Array:
            logits = run.model.apply({"params": p}, inputs, train=True, rngs={"dropout": rng})
            return run.task.loss(logits, batch["label"], batch["batch_mask"])

        return jax.vjp(loss, params)[1]

    rng = jax.ShapeDtypeStruct((2,), np.uint32)
    vjp = jax.eval_shape(closure, run.abstract_state.params, batch, rng)
    return sum(math.prod(leaf.shape) * leaf.dtype.itemsize
               for leaf in jax.tree_util.tree_leaves(vjp))


def lowered_step(setting: Setting) -> tuple[Any, dict[str, jax.ShapeDtypeStruct], Any, float]:
    """The run of `setting`, its abstract batch, the run's train step lowered for them (the
    abstract state, donated) and the seconds tracing and lowering took."""
    run = trainer_run(setting)
    batch = abstract_batch(run, setting.batch)
    step = run.train_step
    start = time.perf_counter()
    lowered = step.lower(run.abstract_state, batch)
    return run, batch, lowered, time.perf_counter() - start


def compile_step(setting: Setting) -> Compiled:
    """Compiles (does not run) the trainer's train step; its memory analysis and compile time."""
    run, batch, lowered, lower_seconds = lowered_step(setting)
    start = time.perf_counter()
    compiled = lowered.compile()
    xla_seconds = time.perf_counter() - start
    memory = compiled.memory_analysis()
    peak = (memory.argument_size_in_bytes + memory.output_size_in_bytes
            - memory.alias_size_in_bytes + memory.temp_size_in_bytes)
    return Compiled(setting, int(peak), int(memory.argument_size_in_bytes),
                    int(memory.temp_size_in_bytes), lower_seconds, xla_seconds,
                    residual_bytes(run, batch))


# Profiler events of XLA's CPU compiler (names of its TraceMe scopes; other backends differ).
_HLO_PASSES = "HLO passes"
_BACKEND = "CpuCompiler::RunBackend"
_KERNEL = "FusionCompiler::Compile"


def profiled_events(call: Callable[[], Any]) -> list[tuple[str, int]]:
    """(name, duration in ns) of every event of every thread of a jax.profiler trace of
    `call()`, read back through the public ProfileData API."""
    events = []
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir):
            call()
        for path in glob.glob(os.path.join(trace_dir, "**", "*.xplane.pb"), recursive=True):
            for plane in jax.profiler.ProfileData.from_file(path).planes:
                for line in plane.lines:
                    events.extend((event.name, event.duration_ns) for event in line.events)
    return events


def xla_compile_phases(setting: Setting) -> dict[str, float]:
    """Compiles the step once more under jax.profiler and sums XLA CPU's compile phases: seconds
    in HLO passes, seconds in the backend (code generation) and the number of fused kernels it
    generated (identical kernels are generated once). Empty on backends without these events."""
    lowered = lowered_step(setting)[2]
    seconds: collections.Counter = collections.Counter()
    kernels = 0
    for name, duration_ns in profiled_events(lowered.compile):
        if name.startswith(_HLO_PASSES):
            seconds["hlo_passes"] += duration_ns / 1e9
        elif name == _BACKEND:
            seconds["backend"] += duration_ns / 1e9
        elif name == _KERNEL:
            kernels += 1
    if not kernels:
        return {}
    return dict(seconds, kernels=float(kernels))


def usable_bytes(device_gb: float, headroom: float) -> float:
    """What a batch may plan on a device: (1 - headroom) of its memory, in vendor GB."""
    return device_gb * 1e9 * (1.0 - headroom)


def fitting_batch(fixed_bytes: float, per_clip_bytes: float, device_gb: float,
                  headroom: float) -> int:
    """The largest batch whose peak stays under (1 - headroom) of the device's memory."""
    usable = usable_bytes(device_gb, headroom)
    if per_clip_bytes <= 0:
        return 0
    return max(int((usable - fixed_bytes) // per_clip_bytes), 0)


def verified_batch(batch: int, usable_bytes: float, peak_at: Callable[[int], int]) -> int:
    """`batch` (a linear extrapolation) if XLA's plan at that batch, `peak_at(batch)`, fits in
    `usable_bytes`; else the largest smaller batch that fits, found by bisection. Every batch the
    table prints was compiled and fits (a larger one may fit too: the per-clip slope between
    small batches is usually the steepest)."""
    if batch <= 0 or peak_at(batch) <= usable_bytes:
        return max(batch, 0)
    fits, too_large = 0, batch
    while too_large - fits > 1:
        middle = (fits + too_large) // 2
        if peak_at(middle) <= usable_bytes:
            fits = middle
        else:
            too_large = middle
    return fits


def _gib(value: float) -> str:
    return f"{value / GIB:.2f}"


def variants_table(size: str, batch: int, policies: list[str], common: dict) -> list[str]:
    lines = [f"Peak memory of one train step, {size}, batch {batch}, "
             f"{common['num_frames']}x{common['crop_size']}x{common['crop_size']}, "
             f"{common['dtype']} activations: XLA CPU peak GiB / activations saved for the "
             "backward pass GiB (compile seconds):", "",
             "| Variant | " + " | ".join(f"remat {p}" for p in policies) + " |",
             "|---|" + "---|" * len(policies)]
    for attention in VARIANTS:
        cells = []
        for policy in policies:
            result = compile_step(Setting(size, attention, policy, batch, **common))
            cells.append(f"{_gib(result.peak_bytes)} / {_gib(result.residual_bytes)} "
                         f"({result.compile_seconds:.0f} s)")
        lines.append(f"| {SHORT[attention]} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return lines


def layers_for(policy: str, choice: str) -> bool:
    """Whether a per-clip row compiles scanned layers: `choice` 'auto' scans exactly the remat
    rows, because XLA's CPU compiler keeps rematerialisation's saving only inside a scan (in
    unrolled layers it fuses the recomputation back)."""
    return policy != "none" if choice == "auto" else choice == "scanned"


def sizes_table(sizes: list[str], attentions: list[str], policies: list[str],
                batches: tuple[int, int], headroom: float, common: dict,
                layers: str = "auto", verify: bool = True) -> list[str]:
    devices = list(DEVICES_GB)
    lines = [f"Training memory per clip and the per-device batch that fits, "
             f"{common['num_frames']}x{common['crop_size']}x{common['crop_size']} clips, "
             f"{common['dtype']} activations, {headroom:.0%} of each device left free. "
             f"Per clip: slopes between batches {batches[0]} and {batches[1]}. Layers: "
             "`model.scan_layers` of the compiled step. XLA: XLA CPU's peak; saved: activations "
             "JAX keeps for the backward pass (compiler-independent). Fixed: parameters, "
             "gradients, optimiser state and workspace. Batches fitting each device: fixed + XLA per "
             "clip of that row" + (", then each batch compiled and lowered until XLA's plan "
                                   "fits" if verify else "") + ":", "",
             "| Model | remat | layers | fixed GiB | XLA GiB/clip | saved GiB/clip | "
             "compile s | " + " | ".join(devices) + " |",
             "|---|---|---|---|---|---|---|" + "---|" * len(devices)]
    for size in sizes:
        for attention in attentions:
            for policy in policies:
                scan = layers_for(policy, layers)
                setting = dict(common, scan_layers=scan)
                small, large = (compile_step(Setting(size, attention, policy, b, **setting))
                                for b in batches)
                span = batches[1] - batches[0]
                per_clip = (large.peak_bytes - small.peak_bytes) / span
                saved = (large.residual_bytes - small.residual_bytes) / span
                fixed = small.peak_bytes - per_clip * batches[0]
                fits = [fitting_batch(fixed, per_clip, DEVICES_GB[d], headroom)
                        for d in devices]
                seconds = small.compile_seconds + large.compile_seconds
                if verify:
                    peaks = {batches[0]: small.peak_bytes, batches[1]: large.peak_bytes}

                    def peak_at(batch: int) -> int:
                        if batch not in peaks:
                            peaks[batch] = compile_step(
                                Setting(size, attention, policy, batch, **setting)).peak_bytes
                        return peaks[batch]

                    fits = [verified_batch(n, usable_bytes(DEVICES_GB[d], headroom), peak_at)
                            for n, d in zip(fits, devices)]
                lines.append(
                    f"| ViViT-{size} {SHORT[attention].split(' ', 2)[-1]} | {policy} | "
                    f"{'scanned' if scan else 'unrolled'} | {_gib(fixed)} | {_gib(per_clip)} | "
                    f"{_gib(saved)} | {seconds:.0f} | " + " | ".join(map(str, fits)) + " |")
                print(lines[-1], flush=True)
    return lines


def compile_time_rows(size: str, policies: list[str], common: dict,
                      rounds: int = 2) -> list[str]:
    """Unrolled vs scanned compile time under each remat policy, best of `rounds` alternating
    compiles of each (the first compile in a process also pays one-off set-up), split into
    tracing + lowering and XLA's own compile."""
    lines = [f"Compile time of one ViViT-{size} Model 1 train step (batch 1, "
             f"{common['num_frames']}x{common['crop_size']}x{common['crop_size']}, "
             f"{common['dtype']}; best of {rounds} alternating compiles):", "",
             "| remat | layers | trace + lower s | XLA compile s | total s | peak GiB |",
             "|---|---|---|---|---|---|"]
    keys = [(policy, scan) for policy in policies for scan in (False, True)]
    best: dict[tuple[str, bool], Compiled] = {}
    for _ in range(rounds):
        for key in keys:
            policy, scan = key
            result = compile_step(Setting(size, "spacetime", policy, 1,
                                          **dict(common, scan_layers=scan)))
            if key not in best or result.compile_seconds < best[key].compile_seconds:
                best[key] = result
    for policy, scan in keys:
        result = best[(policy, scan)]
        lines.append(f"| {policy} | {'scanned' if scan else 'unrolled'} | "
                     f"{result.lower_seconds:.1f} | {result.xla_seconds:.1f} | "
                     f"{result.compile_seconds:.1f} | {_gib(result.peak_bytes)} |")
        print(lines[-1], flush=True)
    lines.append("")
    for policy in policies:
        ratio = best[(policy, True)].compile_seconds / best[(policy, False)].compile_seconds
        lines.append(f"Scanned / unrolled compile time, remat {policy}: {ratio:.2f} "
                     "(issue #13 target: at most 0.33).")
    lines.append("")
    phases = {key: xla_compile_phases(best[key].setting) for key in keys}
    if all(phases.values()):
        lines += ["Inside XLA's compile (one more compile of each under jax.profiler; XLA CPU's "
                  "compile phases, overlapping on its threads):", "",
                  "| remat | layers | HLO passes s | backend (code generation) s | "
                  "fused kernels generated |",
                  "|---|---|---|---|---|"]
        for policy, scan in keys:
            phase = phases[(policy, scan)]
            lines.append(f"| {policy} | {'scanned' if scan else 'unrolled'} | "
                         f"{phase['hlo_passes']:.2f} | {phase['backend']:.2f} | "
                         f"{phase['kernels']:.0f} |")
            print(lines[-1], flush=True)
    return lines


def _time_step(setting: Setting, repeats: int = 3) -> float:
    """Median seconds of one executed train step of the trainer (after a warm-up step), on
    random uint8 clips placed as the training loop places its batches."""
    run = trainer_run(setting)
    run.state = run.create_state()
    step = run.train_step
    batch = mesh_lib.global_batch(run.mesh, host_batch(run, setting.batch,
                                                       np.random.default_rng(0)))

    def one_step() -> None:
        run.state, _, finite = step(run.state, batch)
        finite.block_until_ready()

    return float(np.median(timed(one_step, repeats)))


def remat_target_rows(size: str, frames: int, crop: int, dtype: str) -> list[str]:
    """Issue #13's remat target: twice the batch in the same peak memory, <= 35% extra time.
    Remat runs with unrolled and with scanned layers (XLA's CPU compiler keeps remat's saving
    only in the scan); the reference is no remat with unrolled layers, its smaller plan."""
    batch = 2
    lines = [f"Remat target, ViViT-{size} Model 1, {frames}x{crop}x{crop} clips, {dtype} "
             "activations, executed on this CPU (median of 3 steps after a warm-up):", "",
             "| Setting | layers | batch | XLA peak GiB | saved activations GiB | step s | "
             "s per clip |",
             "|---|---|---|---|---|---|---|"]
    rows = {}
    for policy, scan, b in (("none", False, batch), ("full", False, 2 * batch),
                            ("dots_no_batch", False, 2 * batch), ("full", True, 2 * batch),
                            ("dots_no_batch", True, 2 * batch)):
        setting = Setting(size, "spacetime", policy, b, scan_layers=scan, num_frames=frames,
                          crop_size=crop, dtype=dtype)
        compiled = compile_step(setting)
        seconds = _time_step(setting)
        layers = "scanned" if scan else "unrolled"
        rows[(policy, layers)] = (compiled.peak_bytes, seconds / b, compiled.residual_bytes)
        lines.append(f"| remat {policy} | {layers} | {b} | {_gib(compiled.peak_bytes)} | "
                     f"{_gib(compiled.residual_bytes)} | {seconds:.2f} | {seconds / b:.3f} |")
        print(lines[-1], flush=True)
    lines.append("")
    reference = rows[("none", "unrolled")]
    for (policy, layers), (peak, per_clip, saved) in rows.items():
        if policy == "none":
            continue
        lines.append(
            f"remat {policy}, {layers} layers, at batch {2 * batch}: XLA CPU peak "
            f"{peak / reference[0]:.2f}x, saved activations {saved / reference[2]:.2f}x those "
            f"of no remat at batch {batch} (target <= 1.00); time per clip "
            f"{per_clip / reference[1] - 1:+.0%} (target <= +35%).")
    return lines


def main() -> None:
    batches = tuple(int(b) for b in _BATCHES.value)
    if len(batches) != 2 or batches[0] >= batches[1] or batches[0] < 1:
        fail(PROG, f"--batches={','.join(_BATCHES.value)}: give two batches, "
                             "the smaller first, e.g. 1,2.")
    for policy in _POLICIES.value + _SIZE_POLICIES.value + _COMPILE_POLICIES.value:
        if policy != "none":
            from vivit.models.encoder import REMAT_POLICIES
            if policy not in REMAT_POLICIES:
                fail(PROG, f"remat policy {policy!r}: expected none or one of "
                                     f"{sorted(REMAT_POLICIES)}.")
    common = dict(num_frames=_NUM_FRAMES.value, crop_size=_CROP.value, dtype=_DTYPE.value,
                  scan_layers=_SCAN.value)
    machine = (f"{platform.machine()}, {os.cpu_count()} CPU cores, jax {jax.__version__}, "
               f"backend {jax.default_backend()}")
    command = "python benchmarks/memory.py " + " ".join(sys.argv[1:])
    header = f"<!-- Generated by: {command} ({machine}) -->"
    sections: list[list[str]] = []
    steps = []
    if [s for s in _SIZES.value if s]:
        steps.append(lambda: sizes_table([s for s in _SIZES.value if s], _SIZE_VARIANTS.value,
                                         _SIZE_POLICIES.value, batches, _HEADROOM.value, common,
                                         _SIZE_LAYERS.value, _VERIFY.value))
    if _COMPILE_SIZE.value:
        steps.append(lambda: compile_time_rows(_COMPILE_SIZE.value, _COMPILE_POLICIES.value,
                                               common))
    if _STEP_TIME.value:
        frames, crop = (int(v) for v in _STEP_CLIP.value)
        steps.append(lambda: remat_target_rows(_STEP_SIZE.value, frames, crop, _DTYPE.value))
    if _VARIANTS_SIZE.value:
        steps.append(lambda: variants_table(_VARIANTS_SIZE.value, _VARIANTS_BATCH.value,
                                            _POLICIES.value, common))
    for run_section in steps:
        sections.append(run_section())
        text = "\n\n".join("\n".join(section) for section in sections)
        if _MARKDOWN.value:  # Rewritten after every section: a long run keeps what it has.
            with open(_MARKDOWN.value, "w", encoding="utf-8") as handle:
                handle.write(f"{header}\n\n{text}\n")
    print("\n" + text)

if __name__ == "__main__":
    if parse_flags(FLAGS, sys.argv[1:], PROG, f"python {PROG} [flags]", __doc__):
        fail(PROG, f"unexpected arguments: {sys.argv[1:]}")
    main()
