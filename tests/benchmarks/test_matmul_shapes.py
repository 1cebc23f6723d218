"""benchmarks/matmul_shapes.py times one layer's products under XLA and torch at tiny sizes, and
its shapes and totals are the ones a transformer layer's forward and backward passes run."""

import os
import re
import subprocess
import sys

import numpy as np

from tests.benchmarks import import_benchmark

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "benchmarks", "matmul_shapes.py")


def _operands(product, rng):
    return rng.standard_normal(product["lhs"]), rng.standard_normal(product["rhs"])


def _apply(product, lhs, rhs):
    """What the product computes, in numpy, from its stored operands."""
    a = lhs.T if product["transpose"] == "lhs" else lhs
    b = rhs.T if product["transpose"] == "rhs" else rhs
    return a @ b


def test_products_are_the_layers_forward_and_backward_products():
    shapes = import_benchmark("matmul_shapes")
    tokens, hidden, mlp = 5, 3, 7
    products = {p["name"]: p for p in shapes.layer_products(tokens, hidden, mlp)}
    rng = np.random.default_rng(0)
    x, w_in, w_out = (rng.standard_normal(s) for s in ((tokens, hidden), (hidden, mlp),
                                                        (mlp, hidden)))
    h = x @ w_in
    dy = rng.standard_normal((tokens, hidden))
    dh = dy @ w_out.T
    # The MLP's autodiff products, from numpy's own matrix calculus.
    expected = {"MLP in (Dense_0)": (x, w_in, h), "MLP out (Dense_1)": (h, w_out, h @ w_out),
                "MLP out input gradient": (dy, w_out, dh),
                "MLP in input gradient": (dh, w_in, dh @ w_in.T),
                "MLP out weight gradient": (h, dy, h.T @ dy),
                "MLP in weight gradient": (x, dh, x.T @ dh)}
    for name, (lhs, rhs, result) in expected.items():
        product = products[name]
        assert (product["lhs"], product["rhs"]) == (lhs.shape, rhs.shape), name
        np.testing.assert_allclose(_apply(product, lhs, rhs), result, err_msg=name)
        rows, inner, columns = shapes.product_dims(product)
        assert shapes.product_flops(product) == 2 * rows * inner * columns
        assert (rows, columns) == result.shape
    for name, product in products.items():  # Every product's shapes multiply.
        lhs, rhs = _operands(product, rng)
        assert _apply(product, lhs, rhs).shape[0] == shapes.product_dims(product)[0], name
    projections = [p for p in products.values() if p["name"].startswith("q/k/v/out")]
    assert [p["count"] for p in projections] == [4, 4, 4]
    # Forward FLOPs of a layer's projections and MLP: 2 x tokens x (4 d^2 + 2 d m); backward twice.
    forward = sum(p["count"] * shapes.product_flops(p) for p in products.values()
                  if p["kind"] == "forward")
    backward = sum(p["count"] * shapes.product_flops(p) for p in products.values()
                   if p["kind"] == "backward")
    assert forward == 2 * tokens * (4 * hidden**2 + 2 * hidden * mlp)
    assert backward == 2 * forward


def test_report_totals_are_the_counted_sums_of_the_medians():
    shapes = import_benchmark("matmul_shapes")
    products = shapes.layer_products(4, 2, 8)
    xla = [0.001 * (i + 1) for i in range(len(products))]
    torch = [t / 2 for t in xla]
    text = shapes.report(products, xla, torch)
    forward_ms = sum(p["count"] * s for p, s in zip(products, xla) if p["kind"] == "forward")
    both_ms = sum(p["count"] * s for p, s in zip(products, xla))
    assert f"forward: XLA {forward_ms * 1e3:.2f} ms, torch {forward_ms * 500:.2f} ms " \
           "(torch 2.00x as fast)" in text
    assert f"forward + backward: XLA {both_ms * 1e3:.2f} ms" in text
    assert text.count("| 2.00x |") == len(products)


def test_the_script_runs_both_frameworks_at_tiny_size():
    result = subprocess.run([sys.executable, SCRIPT, "--tokens=6", "--hidden_size=8",
                             "--mlp_dim=16", "--steps=1", "--rounds=1"],
                            capture_output=True, text=True, timeout=600, cwd="/")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = re.findall(r"^\| (.+?) \| (forward|backward) \| (\d) \| (\d+) x (\d+) x (\d+) "
                      r"\| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \|$", result.stdout, re.M)
    assert len(rows) == 9, result.stdout
    assert {(r[3], r[4], r[5]) for r in rows} == {
        ("6", "8", "8"), ("6", "8", "16"), ("6", "16", "8"), ("8", "6", "8"), ("8", "6", "16"),
        ("16", "6", "8")}
    assert re.search(r"forward \+ backward: XLA [\d.]+ ms, torch [\d.]+ ms", result.stdout)


def test_bfloat16_products_with_and_without_float32_sums_run():
    for sums in ("--noxla_float32_sums", "--xla_float32_sums"):
        result = subprocess.run([sys.executable, SCRIPT, "--tokens=6", "--hidden_size=8",
                                 "--mlp_dim=16", "--steps=1", "--rounds=1", "--dtype=bfloat16",
                                 sums], capture_output=True, text=True, timeout=600, cwd="/")
        assert result.returncode == 0, result.stderr[-3000:]
        header = "bfloat16; XLA asks for float32 sums, " if sums == "--xla_float32_sums" \
            else "bfloat16, 6 rows"
        assert header in result.stdout, result.stdout
        assert len(re.findall(r"^\| .+ \| (forward|backward) \|", result.stdout, re.M)) == 9


def test_xla_worker_rounds_bfloat16_products_to_bfloat16_with_float32_sums():
    """The timed XLA product is the one the flags name: bfloat16 result either way, and with
    float32 sums the same values as numpy's float32 product of the bfloat16 operands, rounded."""
    import jax
    import jax.numpy as jnp

    shapes = import_benchmark("matmul_shapes")
    shapes.FLAGS(["matmul_shapes.py", "--dtype=bfloat16", "--xla_float32_sums", "--steps=1"])
    calls = []
    real_jit = jax.jit
    products = shapes.layer_products(6, 8, 16)

    def recording_jit(fn):
        calls.append(fn)
        return real_jit(fn)

    jax.jit = recording_jit
    try:
        shapes.xla_round(products[:1], 1)
    finally:
        jax.jit = real_jit
    lhs = jnp.asarray(np.random.default_rng(0).standard_normal((6, 8)), jnp.bfloat16)
    rhs = jnp.asarray(np.random.default_rng(1).standard_normal((8, 8)), jnp.bfloat16)
    out = calls[0](lhs, rhs)
    assert out.dtype == jnp.bfloat16
    expected = np.asarray(lhs, np.float32) @ np.asarray(rhs, np.float32)
    np.testing.assert_allclose(np.asarray(out, np.float32), expected, rtol=1e-2, atol=1e-2)
