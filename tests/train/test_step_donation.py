"""The jitted train step donates the state: its buffers are reused, not copied, every step."""

import warnings

import jax

from tests.train.tiny_model import batch_for_step, tiny_config, tiny_training
from vivit.train import mesh as mesh_lib


def test_train_step_donates_every_state_buffer():
    config = tiny_config()
    mesh = mesh_lib.build_mesh(config)
    _, _, state, _, train_step = tiny_training(config, mesh, total_updates=8)
    batch = mesh_lib.global_batch(mesh, batch_for_step(0))
    old_leaves = jax.tree.leaves(state)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Some donated buffers were not usable" would raise.
        new_state, _, finite = train_step(state, batch)
    assert bool(finite)
    assert all(leaf.is_deleted() for leaf in old_leaves)
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(new_state))
