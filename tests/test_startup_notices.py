"""TensorFlow's and JAX's start-up notices stay off the console; their warnings, and every other
library's, still reach it; a TF_CPP_MIN_LOG_LEVEL the user set is kept."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from vivit import startup_notices

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What a run printed before anything of ours (see vivit/startup_notices.py).
NOTICES = ("before absl::InitializeLog()", "oneDNN custom operations", "cpu_feature_guard",
           "This TensorFlow binary is optimized", "Unable to initialize backend 'tpu'")


def user_environment(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no test-suite log level, JAX free to probe for a TPU."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "JAX_PLATFORMS", "XLA_FLAGS")}
    env["PYTHONPATH"] = REPO_ROOT
    env.update(extra)
    return env


def assert_no_notices(output: str) -> None:
    found = [line for line in output.splitlines() if any(n in line for n in NOTICES)]
    assert not found, found


def test_stderr_filter_drops_the_notices_and_passes_the_rest(capfd):
    with startup_notices.stderr_without((b"noise",)):
        # As C++ libraries write: to the file descriptor, in pieces that split lines.
        os.write(2, b"kept 1\nsome no")
        os.write(2, b"ise here\nkept 2\n")
        os.write(2, b"no newline at the end")
    assert capfd.readouterr().err == "kept 1\nkept 2\nno newline at the end"


def test_tpu_probe_filter_drops_only_the_probe_notice():
    keep = startup_notices.DropTpuProbeNotice().filter

    def record(level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord("jax._src.xla_bridge", level, __file__, 1, message, None, None)

    assert not keep(record(logging.INFO, "Unable to initialize backend 'tpu': INTERNAL: no lib"))
    assert keep(record(logging.WARNING, "Unable to initialize backend 'tpu': INTERNAL: no lib"))
    assert keep(record(logging.INFO, "Unable to initialize backend 'rocm': not found"))


def test_a_log_level_the_user_set_is_kept(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    startup_notices.silence()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    startup_notices.silence()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"  # TensorFlow's warnings and errors show.


_IMPORTS_AND_WARNINGS = textwrap.dedent("""
    import logging
    logging.basicConfig(level=logging.INFO)  # Shows JAX's INFO records, the TPU probe's too.
    import vivit
    import tensorflow
    import jax
    jax.devices()
    logging.getLogger("jax._src.xla_bridge").warning("a JAX warning")
    logging.getLogger("some.library").warning("a library warning")
    print("done")
""")


def test_tensorflow_and_jax_start_quietly_and_warnings_still_show():
    # An unreadable TF_ENABLE_ONEDNN_OPTS makes TensorFlow log a warning while it loads (and
    # keep its default): a genuine warning, printed in the same moments as the notices.
    result = subprocess.run([sys.executable, "-c", _IMPORTS_AND_WARNINGS], cwd=REPO_ROOT,
                            env=user_environment(TF_ENABLE_ONEDNN_OPTS="maybe"),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == "done\n"
    assert_no_notices(result.stderr)
    assert "TF_ENABLE_ONEDNN_OPTS is not set to either" in result.stderr
    assert "a JAX warning" in result.stderr and "a library warning" in result.stderr


@pytest.mark.slow
def test_the_user_level_0_shows_tensorflow_info_logs():
    result = subprocess.run([sys.executable, "-c", "import vivit, tensorflow"], cwd=REPO_ROOT,
                            env=user_environment(TF_CPP_MIN_LOG_LEVEL="0", TF_ENABLE_ONEDNN_OPTS="1"),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "oneDNN custom operations are on" in result.stderr


@pytest.mark.slow
def test_a_training_run_prints_our_lines_first(tmp_path):
    from tests.trainer.main_runner import FAST_OVERRIDES, main_command

    command = main_command(tmp_path, *FAST_OVERRIDES, "--config.num_training_steps=4",
                           "--config.lr_configs.warmup_steps=2")
    result = subprocess.run(command, cwd=REPO_ROOT,
                            env=user_environment(TF_ENABLE_ONEDNN_OPTS="maybe"),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert_no_notices(output)
    assert "TF_ENABLE_ONEDNN_OPTS is not set to either" in output  # TensorFlow's warning.
    assert "Training steps 0 -> 4" in output
    assert "Step 4/4 (100%)" in output and "ETA 0s" in output
