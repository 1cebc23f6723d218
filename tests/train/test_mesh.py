"""Tests for vivit.train.mesh: mesh shapes, shardings, global batches, and 8-vs-1 device parity."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np
import pytest

from vivit.train import mesh as mesh_lib

REPO_ROOT = Path(__file__).resolve().parents[2]


def _mesh_config(data, fsdp):
    return ml_collections.ConfigDict({"data": data, "fsdp": fsdp, "fsdp_min_size": 16})


@pytest.mark.parametrize(
    "data, fsdp, devices, expected",
    [(-1, 1, 8, (8, 1)), (1, -1, 8, (1, 8)), (-1, -1, 8, (1, 8)), (2, -1, 8, (2, 4)),
     (2, 4, 8, (2, 4)), (-1, 1, 1, (1, 1))],
)
def test_mesh_shape_resolves_minus_one(data, fsdp, devices, expected):
    assert mesh_lib.mesh_shape(_mesh_config(data, fsdp), devices) == expected


@pytest.mark.parametrize(
    "data, fsdp, message", [(3, -1, "does not divide"), (2, 2, "there are 8"), (0, 1, "mesh.data")]
)
def test_bad_mesh_shape_names_the_key(data, fsdp, message):
    with pytest.raises(ValueError, match=message):
        mesh_lib.mesh_shape(_mesh_config(data, fsdp), 8)


def test_fsdp_spec_shards_largest_divisible_dim_and_keeps_small_arrays_whole():
    spec = mesh_lib._fsdp_spec
    assert spec((96, 32), 8, 16) == jax.sharding.PartitionSpec("fsdp", None)
    assert spec((3, 64), 8, 16) == jax.sharding.PartitionSpec(None, "fsdp")
    assert spec((32,), 8, 64) == jax.sharding.PartitionSpec()  # Below fsdp_min_size.
    assert spec((7, 9), 8, 16) == jax.sharding.PartitionSpec()  # Nothing divisible.
    assert spec((96, 32), 1, 16) == jax.sharding.PartitionSpec()  # Data parallel.


def test_global_batch_and_batch_size_check_on_one_device():
    config = ml_collections.ConfigDict({"mesh": _mesh_config(-1, 1)})
    mesh = mesh_lib.build_mesh(config)
    local = {"inputs": np.ones((4, 2, 3), np.float32), "label": np.arange(4, dtype=np.int32),
             "key": np.array(["a", "b", "c", "d"])}
    batch = mesh_lib.global_batch(mesh, local)
    assert set(batch) == {"inputs", "label"}
    np.testing.assert_array_equal(batch["label"], np.arange(4))
    assert batch["inputs"].sharding == mesh_lib.batch_sharding(mesh)
    mesh_lib.check_batch_size(4, mesh)


def test_eight_simulated_devices_give_the_one_device_loss_curve():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-m", "tests.train.sharded_run"], cwd=REPO_ROOT, env=env,
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    reference = runs["one_device"]["losses"]
    assert len(reference) == 6 and all(np.isfinite(reference))
    for name in ["data_parallel", "fsdp", "hybrid"]:
        np.testing.assert_allclose(runs[name]["losses"], reference, rtol=2e-5, err_msg=name)
        assert runs[name]["batch_devices"] == 8
    # Data parallel keeps parameters whole; FSDP really splits kernels and their momentum.
    assert runs["data_parallel"]["kernel_shard_shape"] == [96, 32]
    assert runs["fsdp"]["kernel_shard_shape"] == [12, 32]
    assert runs["hybrid"]["kernel_shard_shape"] == [48, 32]
    assert runs["fsdp"]["momentum_specs"] == ["P('fsdp', None)"]
    # A checkpoint of the sharded run restores, resharded, into a replicated layout.
    moved = runs["fsdp_restored_data_parallel"]
    assert moved["kernel_spec"] == "P()" and moved["step"] == 6
    np.testing.assert_array_equal(moved["final_kernel"], runs["fsdp"]["final_kernel"])
