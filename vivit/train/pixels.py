"""uint8 pixels -> the model's input range, inside the jitted steps on the device.

Batches carry uint8 pixels (`VideoDataset.batches()`): a quarter of the bytes of float32 to
write on the host and to copy to the device. Every step that feeds the model (train, eval,
multi-view test, predict) converts them here, so `dataset_configs.zero_centering` means the same
everywhere.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def to_model_range(inputs: jax.Array, zero_centering: bool) -> jax.Array:
    """uint8 [..., 3] -> float32 in [-1, 1] (zero_centering) or [0, 1].

    Float inputs are taken to be in the model's range already (what tests and hand-made
    batches pass) and are returned unchanged.
    """
    if jnp.issubdtype(inputs.dtype, jnp.floating):
        return inputs
    if inputs.dtype != jnp.uint8:
        raise ValueError(f"Model inputs must be uint8 pixels or floats, got {inputs.dtype}.")
    values = inputs.astype(jnp.float32)
    # Divisions, not multiplications by 1/255: 0 and 255 map exactly onto the range's ends.
    return (values - 127.5) / 127.5 if zero_centering else values / 255.0
