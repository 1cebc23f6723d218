"""Runs a few train steps of the tiny model on several meshes and prints the loss curves (JSON).

Meant to run in a subprocess whose XLA_FLAGS force 8 host devices (set before jax imports):
    python -m tests.train.sharded_run

It also saves the fully sharded run's state and restores it into a data-parallel layout.
"""

import json
import tempfile

import jax
import numpy as np

from tests.train.tiny_model import (
    INPUT_SHAPE, TinyVideoClassifier, batch_for_step, tiny_config, tiny_training)
from vivit.train import checkpointing, mesh as mesh_lib, optimizer as opt_lib
from vivit.train import state as state_lib, step as step_lib

STEPS = 6


def loss_curve(num_devices: int, fsdp: int, checkpoint_dir: str | None = None) -> dict:
    config = tiny_config(**{"mesh.data": -1, "mesh.fsdp": fsdp, "mesh.fsdp_min_size": 64})
    mesh = mesh_lib.build_mesh(config, jax.devices()[:num_devices])
    *_, state, _, train_step = tiny_training(config, mesh, STEPS)
    curve = []
    for step in range(STEPS):
        batch = mesh_lib.global_batch(mesh, batch_for_step(step))
        state, step_metrics, finite = train_step(state, batch)
        step_lib.check_finite(finite, step, step_metrics)
        curve.append(float(step_metrics["training_loss"].compute()))
    kernel = state.params["Dense_0"]["kernel"]
    if checkpoint_dir:
        checkpointer = checkpointing.Checkpointer(checkpoint_dir, save_every=1, max_to_keep=1)
        checkpointer.save(STEPS, state)
        checkpointer.close()
    return {
        "losses": curve,
        "kernel_spec": str(kernel.sharding.spec),
        "kernel_shard_shape": list(kernel.addressable_shards[0].data.shape),
        "momentum_specs": sorted({str(leaf.sharding.spec) for leaf in jax.tree.leaves(
            state.opt_state) if leaf.shape == kernel.shape}),
        "batch_devices": len(batch["inputs"].sharding.device_set),
        "final_kernel": np.asarray(kernel).tolist(),
    }


def restore_on_other_mesh(checkpoint_dir: str, fsdp: int) -> dict:
    """Restores a checkpoint written under another mesh into this mesh's layout."""
    config = tiny_config(**{"mesh.data": -1, "mesh.fsdp": fsdp, "mesh.fsdp_min_size": 64})
    mesh = mesh_lib.build_mesh(config)
    optimizer, _ = opt_lib.build_optimizer(config, total_updates=STEPS)
    abstract, _, _ = state_lib.plan_train_state(
        TinyVideoClassifier(), optimizer, (1,) + INPUT_SHAPE, jax.random.PRNGKey(1), mesh,
        config.mesh.fsdp_min_size)
    restored = checkpointing.Checkpointer(checkpoint_dir, save_every=1, max_to_keep=1).restore(
        abstract)
    kernel = restored.params["Dense_0"]["kernel"]
    return {"kernel_spec": str(kernel.sharding.spec), "step": int(restored.step),
            "final_kernel": np.asarray(kernel).tolist()}


if __name__ == "__main__":
    assert jax.device_count() == 8, jax.devices()
    with tempfile.TemporaryDirectory() as workdir:
        print(json.dumps({
            "one_device": loss_curve(1, 1),
            "data_parallel": loss_curve(8, 1),
            "fsdp": loss_curve(8, -1, checkpoint_dir=workdir),
            "hybrid": loss_curve(8, 2),
            "fsdp_restored_data_parallel": restore_on_other_mesh(workdir, fsdp=1),
        }))
