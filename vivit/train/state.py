"""The train state (step, parameters, optimizer state, base rng) and its sharded creation."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from vivit.train import mesh as mesh_lib


@flax.struct.dataclass
class TrainState:
    """Everything a resumed run needs besides the data position (which is `step`).

    `step` counts train steps (micro-batches); `rng` is a raw uint32 key from which each step's
    dropout and mixup keys are derived by folding in the step, so a resumed run draws the same
    randomness as an uninterrupted one.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array


def _init_state(
    model: nn.Module, optimizer: optax.GradientTransformation, input_shape: Sequence[int],
    rng: jax.Array,
) -> TrainState:
    params_rng, dropout_rng, state_rng = jax.random.split(rng, 3)
    dummy = jnp.zeros(tuple(input_shape), jnp.float32)
    variables = model.init({"params": params_rng, "dropout": dropout_rng}, dummy, train=False)
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32), params=params, opt_state=optimizer.init(params),
        rng=state_rng,
    )


def plan_train_state(
    model: nn.Module,
    optimizer: optax.GradientTransformation,
    input_shape: Sequence[int],
    rng: jax.Array,
    mesh: Mesh,
    fsdp_min_size: int = 2**14,
) -> tuple[Any, Any, Callable[[], TrainState]]:
    """(abstract state, shardings, create): the state's layout with nothing allocated.

    The abstract state holds ShapeDtypeStructs with their shardings (what Orbax restores into);
    `create()` initializes the real state directly in that layout. A resumed run restores and
    never pays for a fresh initialization. `rng` must be a raw uint32 key (jax.random.PRNGKey).
    """
    init = lambda key: _init_state(model, optimizer, input_shape, key)
    shapes = jax.eval_shape(init, rng)
    shardings = mesh_lib.state_shardings(mesh, shapes, fsdp_min_size)
    abstract = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), shapes, shardings)
    return abstract, shardings, lambda: jax.jit(init, out_shardings=shardings)(rng)


def replace_params(
    state: TrainState, params: Any, optimizer: optax.GradientTransformation, shardings: Any
) -> TrainState:
    """State with new (e.g. pretrained) parameters and a fresh optimizer state, same layout."""
    params = jax.device_put(params, shardings.params)
    opt_state = jax.jit(optimizer.init, out_shardings=shardings.opt_state)(params)
    return state.replace(params=params, opt_state=opt_state)


def count_params(params: Any) -> int:
    """Total number of parameter elements (logged at step 1)."""
    return int(sum(leaf.size for leaf in jax.tree.leaves(params)))
