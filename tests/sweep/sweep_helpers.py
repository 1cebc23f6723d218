"""Shared helpers of the sweep tests: the sweep files, and running `python -m vivit.sweep`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ABLATIONS = REPO_ROOT / "configs" / "ablations"

# Sweep file -> rows of the paper's table or figure.
SWEEP_ROWS = {
    "table_1_input_encoding.py": 4,
    "table_2_variants.py": 5,
    "table_3_temporal_layers.py": 5,
    "table_4_regularisation.py": 6,
    "table_5_crop.py": 3,
    "figure_8_tubelet.py": 12,
    "figure_9_frames.py": 5,
}


def sweep_arg(file: str, tiny: bool = False) -> str:
    """FILE[:ARG] with the arguments a sweep needs (Table 4's K400 checkpoint)."""
    parts = ["tiny"] if tiny else []
    if file == "table_4_regularisation.py":
        parts.append("k400_checkpoint=/ckpt/k400_fe")
    spec = f"configs/ablations/{file}"
    return f"{spec}:{','.join(parts)}" if parts else spec


def run_sweep_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, "-m", "vivit.sweep", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    """stderr without absl/TF log lines (I/W/E + date)."""
    return [line for line in stderr.splitlines()
            if line.strip() and not (line[:1] in "IWE" and line[1:5].isdigit())]
