"""Runs `python main.py` in a subprocess, as a user would, and reads what it wrote.

Each run gets a clean environment: JAX on the CPU with `devices` simulated host devices.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# A short, fast demo run: 2-layer ViViT on 32x32x8 synthetic clips, small splits, a loss
# written at every step, checkpoints every 10 steps.
FAST_OVERRIDES = (
    "--config.batch_size=8",
    "--config.num_training_steps=60",
    "--config.lr_configs.warmup_steps=10",
    "--config.log_summary_steps=1",
    "--config.log_eval_steps=30",
    "--config.checkpoint_steps=10",
    "--config.count_flops=False",
    "--config.dataset_configs.synthetic.num_train_examples=256",
    "--config.dataset_configs.synthetic.num_validation_examples=16",
    "--config.dataset_configs.synthetic.num_test_examples=16",
    "--config.dataset_configs.do_multicrop_test=False",
)


def main_command(workdir, *flags: str, config: str = "configs/demo.py") -> list[str]:
    return [sys.executable, "main.py", f"--config={config}", f"--workdir={workdir}", *flags]


def environment(devices: int = 1, **extra: str) -> dict[str, str]:
    env = dict(os.environ, JAX_PLATFORMS="cpu", **extra)
    env.pop("XLA_FLAGS", None)
    if devices > 1:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def start_main(workdir, *flags: str, config: str = "configs/demo.py", devices: int = 1,
               **popen) -> subprocess.Popen:
    return subprocess.Popen(
        main_command(workdir, *flags, config=config), cwd=REPO_ROOT, env=environment(devices),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def run_main(workdir, *flags: str, config: str = "configs/demo.py", devices: int = 1,
             timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        main_command(workdir, *flags, config=config), cwd=REPO_ROOT, env=environment(devices),
        capture_output=True, text=True, timeout=timeout)


def read_scalars(workdir) -> dict[str, dict[int, list[float]]]:
    """{tag: {step: [values, one per event file that wrote it]}} from the TensorBoard files."""
    import tensorflow as tf

    scalars: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(Path(workdir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.HasField("tensor"):
                    number = float(tf.make_ndarray(value.tensor))
                else:
                    number = float(value.simple_value)
                scalars[value.tag][int(event.step)].append(number)
    return scalars


def checkpoint_steps(workdir) -> list[int]:
    """Finished checkpoint steps (Orbax renames a step's directory to its number when done)."""
    directory = Path(workdir) / "checkpoints"
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def tree_digest(directory) -> dict[str, bytes]:
    """Every file under `directory` with its bytes: to show nothing was touched."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(Path(directory).rglob("*")) if p.is_file()}
