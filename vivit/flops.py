"""Parameter and FLOP counts of a configured model, for one clip, without allocating weights.

    python -m vivit.flops --config=configs/k400_fe.py
    python -m vivit.flops --config=configs/k400_fe.py --table2   # the paper's Table 2 variants
    python -m vivit.flops --cvt   # CvT-13/21 at 224x224, CvT-W24 at 384x384 (CvT paper, Table 2)

FLOPs come from XLA's cost analysis of the compiled forward pass (batch 1) and count a
multiply-add as one FLOP, as the ViViT paper and Scenic do. XLA also counts element-wise work
(normalisations, softmax, GELU, residual adds); `matmul_gmacs` counts only the multiply-adds of
convolutions and matrix products, which is what the CvT paper's numbers are.
"""

from __future__ import annotations

import dataclasses
import math
import sys

import jax
import jax.numpy as jnp
from jax.extend import core as jax_core
import ml_collections
from absl import app, flags, logging

from vivit.config import load_config, split_override_args
from vivit.data import preprocess
from vivit.models import build_model
from vivit.models.attention_types import get_attention_type
from vivit.tasks import Task, task_for_config


@dataclasses.dataclass(frozen=True)
class ModelCost:
    """Size and per-clip compute of a model."""

    parameters: int
    gflops: float  # one multiply-add counts as one FLOP

    def __str__(self) -> str:
        return f"parameters: {self.parameters / 1e6:.1f} M\nGFLOPs per clip: {self.gflops:.1f}"


def clip_shape(config: ml_collections.ConfigDict, inputs: str = "video") -> tuple[int, ...]:
    """[1, time, height, width, 3] for one clip of the configured dataset ([1, height, width, 3]
    for an image model, inputs="image"): the data pipeline's example shape with a batch of one."""
    settings = preprocess.ClipSettings.from_config(config.dataset_configs)
    return (1,) + settings.input_shape(inputs)


def count(config: ml_collections.ConfigDict, task: Task) -> ModelCost:
    """Parameters (from `jax.eval_shape`, nothing allocated) and GFLOPs of one forward pass of
    the model of `config` with the output layer of `task`.

    Counted on the unrolled model: XLA's cost analysis counts a scan's body once, not per layer.
    """
    if config.model.get("scan_layers"):
        config = config.copy_and_resolve_references()
        config.model.scan_layers = False
    return count_module(build_model(config, task), clip_shape(config, task.inputs))


def count_module(model, input_shape: tuple[int, ...]) -> ModelCost:
    """`count` for any Flax module called as `model.apply(variables, x, train=False)`."""
    video = jax.ShapeDtypeStruct(input_shape, jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), video)
    parameters = sum(math.prod(leaf.shape) for leaf in jax.tree_util.tree_leaves(variables))
    forward = jax.jit(lambda v, x: model.apply(v, x, train=False))
    cost = forward.lower(variables, video).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):  # Older jax returns one dict per device.
        cost = cost[0]
    # XLA counts a multiply and an add as two FLOPs.
    return ModelCost(parameters=parameters, gflops=float(cost["flops"]) / 2 / 1e9)


def _matmul_macs(jaxpr: jax_core.Jaxpr) -> int:
    macs = 0
    for eqn in jaxpr.eqns:
        out = math.prod(eqn.outvars[0].aval.shape) if eqn.outvars else 0
        if eqn.primitive.name == "dot_general":
            (contracting, _), _ = eqn.params["dimension_numbers"]  # lhs's, rhs's; batch
            lhs = eqn.invars[0].aval.shape
            macs += out * math.prod(lhs[d] for d in contracting)
        elif eqn.primitive.name == "conv_general_dilated":
            kernel = eqn.invars[1].aval.shape
            out_features = kernel[eqn.params["dimension_numbers"].rhs_spec[0]]
            macs += out * math.prod(kernel) // out_features  # per output: window x in/groups
        for sub in jax_core.jaxprs_in_params(eqn.params):
            macs += _matmul_macs(sub)
    return macs


def matmul_gmacs(model, input_shape: tuple[int, ...]) -> float:
    """Multiply-adds (1e9) of the convolutions and matrix products of one forward pass (read
    from its jaxpr): the count that leaves out element-wise work."""
    x = jax.ShapeDtypeStruct(input_shape, jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)
    jaxpr = jax.make_jaxpr(lambda v, x: model.apply(v, x, train=False))(variables, x)
    return _matmul_macs(jaxpr.jaxpr) / 1e9


# Table 2 rows: name -> (attention_config.type, spatial_only_baseline). Types without a class
# token (Models 3 and 4) pool with 'gap'.
TABLE2_VARIANTS = {
    "Model 1: Spatio-temporal": ("spacetime", False),
    "Model 2: Fact. encoder": ("factorized_encoder", False),
    "Model 3: Fact. self-attention": ("factorized_self_attention_block", False),
    "Model 4: Fact. dot product": ("factorized_dot_product_attention", False),
    "Model 2: Ave. pool baseline": ("factorized_encoder", True),
}


def table2_rows(config: ml_collections.ConfigDict, task: Task
                ) -> list[tuple[str, ModelCost]]:
    """The cost of each Table 2 variant, built from `config` with only the attention type changed."""
    rows = []
    for name, (attention_type, baseline) in TABLE2_VARIANTS.items():
        variant = ml_collections.ConfigDict(config.to_dict())
        variant.model.attention_config.type = attention_type
        variant.model.attention_config.spatial_only_baseline = baseline
        if not get_attention_type(attention_type).class_token:
            variant.model.classifier = "gap"
        rows.append((name, count(variant, task)))
    return rows


# The CvT paper's Table 2: each model at the resolution the paper counts it at.
CVT_RESOLUTIONS = {"cvt-13": 224, "cvt-21": 224, "cvt-w24": 384}


def cvt_rows(num_classes: int = 1000) -> list[tuple[str, int, ModelCost, float]]:
    """(name, resolution, cost, GMACs of convolutions and matrix products) of the CvT image
    models of the CvT paper's Table 2 (one image, ImageNet head)."""
    from vivit.models.cvt import CVT_VARIANTS, CvTClassifier

    rows = []
    for name, resolution in CVT_RESOLUTIONS.items():
        model = CvTClassifier(CVT_VARIANTS[name], num_classes)
        shape = (1, resolution, resolution, 3)
        rows.append((name, resolution, count_module(model, shape), matmul_gmacs(model, shape)))
    return rows


def format_cvt_table(rows: list[tuple[str, int, ModelCost, float]]) -> str:
    lines = ["| Model | Image | Params (M) | GFLOPs (XLA) | GMACs (conv + matmul) |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {res}x{res} | {c.parameters / 1e6:.2f} | {c.gflops:.1f} | {macs:.2f} |"
              for name, res, c, macs in rows]
    return "\n".join(lines)


def format_table(rows: list[tuple[str, ModelCost]]) -> str:
    lines = ["| Model | Params (M) | GFLOPs |", "|---|---|---|"]
    lines += [f"| {name} | {c.parameters / 1e6:.2f} | {c.gflops:.1f} |" for name, c in rows]
    return "\n".join(lines)


def describe(config: ml_collections.ConfigDict, cost: ModelCost) -> str:
    """The cost, and how the configured attention type's cost grows with the tokens."""
    note = get_attention_type(config.model.attention_config.type).flops_note
    return f"{cost}\nattention: {note}" if note else str(cost)


_OVERRIDES: list[str] = []


def _parse_flags(argv: list[str]) -> list[str]:
    rest, overrides = split_override_args(argv)
    _OVERRIDES.extend(overrides)
    return app.parse_flags_with_usage(rest)


def main(argv: list[str]) -> None:
    del argv
    if flags.FLAGS.cvt:
        print(format_cvt_table(cvt_rows()))
        return
    if flags.FLAGS.config is None:
        raise app.UsageError("--config=configs/<file>.py is required.")
    try:
        config = load_config(flags.FLAGS.config, _OVERRIDES)
        task = task_for_config(config)
        print(format_table(table2_rows(config, task)) if flags.FLAGS.table2
              else describe(config, count(config, task)))
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as error:
        # A config the model cannot be built from: one line naming the key (--verbose: trace).
        if flags.FLAGS.verbose:
            logging.exception("%s: %s", type(error).__name__, error)
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        print(f"python -m vivit.flops: error: {message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    # Flags are defined only when run as a command, so importing this module (the trainer
    # does) leaves the importer's own --config flag alone.
    flags.DEFINE_string("config", None, "Config file FILE[:ARG]; override keys with "
                        "--config.KEY=VALUE.")
    flags.DEFINE_bool("verbose", False, "On an error, log its traceback before the message.")
    flags.DEFINE_bool(
        "table2", False, "Print the five model variants of the paper's Table 2 built on --config.")
    flags.DEFINE_bool(
        "cvt", False, "Print CvT-13/21/W24 (the CvT paper's Table 2) instead of --config.")
    app.run(main, flags_parser=_parse_flags)
