"""benchmarks/models.py runs end to end at tiny sizes (ours, a base checkout, Scenic and HF) and
prints a row per model and a ratio per peer; its tables are computed from the measured values.

The Scenic tests need a real Scenic checkout (never vendored here): set SCENIC_DIR to one."""

import os
import re
import subprocess
import sys

import pytest

from tests.benchmarks import import_benchmark

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "models.py")
TINY = ["--hidden_size=16", "--num_layers=1", "--temporal_layers=1", "--num_heads=2",
        "--mlp_dim=32", "--patch=8,8,2", "--batch_size=1", "--num_frames=4", "--image_size=16",
        "--num_classes=5", "--steps=1", "--matmul_size=64"]
SCENIC_DIR = os.environ.get("SCENIC_DIR")
needs_scenic = pytest.mark.skipif(
    not SCENIC_DIR, reason="SCENIC_DIR (a Scenic checkout, e.g. an export of "
    "google-research/scenic) is not set")
VARIANTS = ("spacetime", "factorized_encoder", "factorized_self_attention_block",
            "factorized_dot_product_attention")


def _run(args, cwd):
    result = subprocess.run([sys.executable, SCRIPT, *TINY, *args], capture_output=True,
                            text=True, timeout=900, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _import_benchmark():
    return import_benchmark('models')


def _row(stdout, name):
    row = re.search(rf"^\| {name} \|(.*)\|$", stdout, re.M)
    assert row, f"no row for {name}"
    return [c.strip() for c in row.group(1).split("|")]


@pytest.mark.slow
def test_every_variant_and_hf_get_a_row_and_the_ratios_are_printed(tmp_path):
    stdout = _run(["--rounds=1"], tmp_path)
    for variant in VARIANTS:
        cells = _row(stdout, f"ours {variant}")
        assert len(cells) == 8 and all(c != "-" for c in cells), cells
        assert all(float(c.rstrip("%")) >= 0 for c in cells)
    for attention in ("sdpa", "eager"):
        cells = _row(stdout, f"HF {attention} spacetime")
        assert cells[:2] == ["-", "-"] and float(cells[2]) >= 0 and float(cells[3]) > 0
        assert re.search(rf"^\| HF {attention} spacetime \| [\d.]+x \| [\d.]+x \|$", stdout,
                         re.M)
    assert re.search(r"matmul peak \(float32, XLA\): [\d.]+ GFLOP/s; torch: [\d.]+ GFLOP/s; "
                     r"torch threads: \d+; XLA CPU threads: \d+", stdout)


@pytest.mark.slow
def test_rounds_interleave_and_a_base_checkout_is_compared(tmp_path):
    stdout = _run(["--rounds=2", f"--base_root={ROOT}", "--variants=spacetime", "--nohf"],
                  tmp_path)
    order = re.findall(r"^round (\d)/2: (\w+)$", stdout, re.M)
    assert order == [("1", "jax"), ("1", "base"), ("2", "jax"), ("2", "base")]
    assert len(_row(stdout, "base spacetime")) == 8
    assert re.search(r"^\| base spacetime \| [\d.]+x \| [\d.]+x \|$", stdout, re.M)
    assert f"base: vivit from {ROOT}" in stdout


def test_a_bad_variant_is_named_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, "--variants=spacetime,model5"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode != 0
    assert "--variants: unknown ['model5']" in result.stderr


def test_a_directory_without_scenic_is_refused_in_one_line_before_any_work(tmp_path):
    result = subprocess.run([sys.executable, SCRIPT, f"--scenic_dir={tmp_path}"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"benchmarks/models.py: error: --scenic_dir={str(tmp_path)!r} is not a Scenic checkout "
        "(no scenic/projects/vivit/model.py)."]
    assert "round" not in result.stdout


def test_a_parameter_tree_mismatch_is_named():
    import flax.linen as nn

    class Head(nn.Module):
        width: int

        @nn.compact
        def __call__(self, video, train=False):
            return nn.Dense(self.width)(video.mean(axis=(1, 2, 3)))

    benchmark = _import_benchmark()
    benchmark.FLAGS(["models.py", *TINY])
    assert benchmark.parameter_mismatch(Head(4), Head(4)) == []
    assert benchmark.parameter_mismatch(Head(4), Head(5)) == [
        "['Dense_0']['bias']: ours (4,), theirs (5,)",
        "['Dense_0']['kernel']: ours (3, 4), theirs (3, 5)"]


@needs_scenic
def test_scenic_builds_our_model_for_every_variant():
    """Same parameter tree, and with the same parameters the same logits: the timed peers are
    the same network, written twice."""
    import jax
    import jax.numpy as jnp

    from tests.task_helpers import model_of

    benchmark = _import_benchmark()
    benchmark.FLAGS(["models.py", *TINY])
    clip = jax.random.uniform(jax.random.PRNGKey(1), benchmark.clip_shape(), minval=-1, maxval=1)
    for variant in VARIANTS:
        config = benchmark.model_config(variant)
        ours, scenic = model_of(config), benchmark.scenic_module(config, SCENIC_DIR)
        assert benchmark.parameter_mismatch(ours, scenic) == [], variant
        params = ours.init(jax.random.PRNGKey(0), clip, train=False)["params"]
        params = jax.tree.map(lambda p: p + 0.05, params)  # Zero-initialized heads give 0 logits.
        expected = ours.apply({"params": params}, clip, train=False)
        got = scenic.apply({"params": params}, clip, train=False)
        assert float(jnp.max(jnp.abs(expected))) > 1e-3, variant
        assert jnp.allclose(got, expected, atol=1e-5), variant


@pytest.mark.slow
@needs_scenic
def test_the_scenic_worker_runs_interleaved_and_is_compared(tmp_path):
    stdout = _run(["--rounds=2", f"--scenic_dir={SCENIC_DIR}", "--nohf", "--variants=spacetime"],
                  tmp_path)
    order = re.findall(r"^round (\d)/2: (\w+)$", stdout, re.M)
    assert order == [("1", "jax"), ("1", "scenic"), ("2", "jax"), ("2", "scenic")]
    cells = _row(stdout, "Scenic spacetime")
    assert len(cells) == 8 and all(c != "-" for c in cells), cells
    assert re.search(r"^\| Scenic spacetime \| [\d.]+x \| [\d.]+x \|$", stdout, re.M)
    # Scenic's own train step: train-step cells only (its forward is the row above).
    step = _row(stdout, "Scenic step spacetime")
    assert step[0::2] == ["-"] * 4 and "-" not in step[1::2], step
    assert re.search(r"^\| Scenic step spacetime \| - \| [\d.]+x \|$", stdout, re.M)
    assert f"Scenic: scenic from {os.path.abspath(SCENIC_DIR)}" in stdout


def test_report_computes_ratios_and_mfu_from_the_measurements():
    benchmark = _import_benchmark()
    models = {
        "ours spacetime": dict(compile_forward=1.0, compile_train=2.0, forward=0.5, train=2.0,
                               forward_flops=40e9, train_flops=120e9),
        "HF sdpa spacetime": dict(forward=0.6, train=2.5),
        "Scenic step spacetime": dict(compile_train=3.0, train=3.0, train_flops=121e9),
    }
    text = benchmark.report(models, peak=100e9, threads=2, torch_peak=150e9)
    # MFU divides by XLA's peak; torch's is printed beside it.
    assert text.startswith("matmul peak (float32, XLA): 100.0 GFLOP/s; torch: 150.0 GFLOP/s;")
    # MFU: 40 GFLOP / 0.5 s / 100 GFLOP/s = 80%; train 120 / 2.0 / 100 = 60%; HF counts ours.
    assert "| ours spacetime | 1.0 | 2.0 | 500 | 2000 | 40.0 | 120.0 | 80% | 60% |" in text
    assert "| HF sdpa spacetime | - | - | 600 | 2500 | 40.0 | 120.0 | 67% | 48% |" in text
    assert "| HF sdpa spacetime | 1.20x | 1.25x |" in text
    # A peer timed in the train step only (Scenic's own step) has '-' where it has no number.
    assert "| Scenic step spacetime | - | 3.0 | - | 3000 | - | 121.0 | - | 40% |" in text
    assert "| Scenic step spacetime | - | 1.50x |" in text


def test_merge_takes_the_median_over_every_sample_of_every_round():
    benchmark = _import_benchmark()
    rounds = [{"models": {"ours spacetime": {"forward": [1.0, 9.0], "compile_train": 4.0}}},
              {"models": {"ours spacetime": {"forward": [2.0], "compile_train": 6.0}}}]
    assert benchmark.merge(rounds) == {"ours spacetime": {"forward": 2.0, "compile_train": 5.0}}


def test_the_attention_implementation_flag_reaches_our_model_config():
    models = import_benchmark("models")
    try:
        models.FLAGS(["models"])
        assert models.model_config("spacetime").model.attention_config.implementation is None
        models.FLAGS.unparse_flags()
        models.FLAGS(["models", "--attention_implementation=xla"])
        for variant in models.VARIANTS:
            config = models.model_config(variant)
            assert config.model.attention_config.implementation == "xla"
    finally:
        models.FLAGS.unparse_flags()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_hf_runs_under_autocast_with_bfloat16_as_trainer_does(dtype, monkeypatch):
    """With --dtype=bfloat16 HF's forward and train step compute their products in bfloat16
    (torch's CPU autocast, Trainer's bf16=True); float32 stays float32."""
    benchmark = _import_benchmark()
    benchmark.FLAGS(["models.py", *TINY, f"--dtype={dtype}"])
    build = benchmark.hf_model
    seen = []

    def hooked(attention):
        model, video, labels = build(attention)
        model.classifier.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
        return model, video, labels

    monkeypatch.setattr(benchmark, "hf_model", hooked)
    calls = benchmark.hf_calls("sdpa")
    for name in ("forward", "train step"):
        calls[name]()
    assert [str(d) for d in seen] == [f"torch.{dtype}"] * 2
    params = {str(p.dtype) for p in build("sdpa")[0].parameters()}
    assert params == {"torch.float32"}  # Mixed precision: the parameters stay float32.
