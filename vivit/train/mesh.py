"""The one way to build the device mesh and the shardings of batches, parameters and state.

The mesh has two axes, ('data', 'fsdp'); the batch is split over both, so every device gets
batch_size / device_count examples. Parameters and optimizer state are replicated when
fsdp == 1 (data parallelism), and otherwise each large array is split along one dimension over the
'fsdp' axis (fully sharded data parallelism, for ViViT-L/H); XLA inserts the all-gathers and
reduce-scatters. Axes are `AxisType.Auto` so the compiler propagates shardings itself and Linen
logical partitioning keeps working (see STACK_NOTES: Explicit axes reject it).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"
FSDP_AXIS = "fsdp"
BATCH_AXES = (DATA_AXIS, FSDP_AXIS)


def mesh_shape(mesh_config: ml_collections.ConfigDict, num_devices: int) -> tuple[int, int]:
    """Resolves config.mesh.{data, fsdp} (-1 = what is left) into sizes that use every device.

    fsdp=-1 with data=-1 (the default data) shards over every device: data becomes 1.
    """
    data, fsdp = int(mesh_config.data), int(mesh_config.fsdp)
    if data == -1 and fsdp == -1:
        data = 1
    for name, size in (("data", data), ("fsdp", fsdp)):
        if size == 0 or size < -1:
            raise ValueError(f"config.mesh.{name}={size} must be a positive size or -1.")
    known = data if fsdp == -1 else fsdp
    if (data == -1 or fsdp == -1) and num_devices % known:
        raise ValueError(
            f"config.mesh (data={data}, fsdp={fsdp}) does not divide the {num_devices} devices."
        )
    if data == -1:
        data = num_devices // fsdp
    if fsdp == -1:
        fsdp = num_devices // data
    if data * fsdp != num_devices:
        raise ValueError(
            f"config.mesh data={data} x fsdp={fsdp} = {data * fsdp} devices, but there are "
            f"{num_devices}."
        )
    return data, fsdp


def build_mesh(
    config: ml_collections.ConfigDict, devices: Sequence[jax.Device] | None = None
) -> Mesh:
    """A ('data', 'fsdp') mesh over all devices (or `devices`) with Auto axis types."""
    devices = list(jax.devices() if devices is None else devices)
    shape = mesh_shape(config.mesh, len(devices))
    return jax.make_mesh(
        shape,
        BATCH_AXES,
        axis_types=(jax.sharding.AxisType.Auto,) * 2,
        devices=devices,
    )


def check_batch_size(batch_size: int, mesh: Mesh, key: str = "batch_size") -> None:
    """Raises naming the config key when a global batch cannot be split evenly."""
    devices = mesh.devices.size
    if batch_size % devices:
        raise ValueError(
            f"config.{key}={batch_size} is not divisible by the {devices} devices of the mesh."
        )
    processes = jax.process_count()
    if batch_size % processes:
        raise ValueError(
            f"config.{key}={batch_size} is not divisible by the {processes} processes."
        )


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over every device; other dimensions whole."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def _fsdp_spec(shape: Sequence[int], fsdp_size: int, min_size: int) -> PartitionSpec:
    """Shards the largest dimension divisible by the fsdp size; small arrays stay replicated."""
    if fsdp_size == 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
        return PartitionSpec()
    for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
        if shape[dim] % fsdp_size == 0:
            spec: list[Any] = [None] * len(shape)
            spec[dim] = FSDP_AXIS
            return PartitionSpec(*spec)
    return PartitionSpec()


def state_shardings(mesh: Mesh, abstract_tree: Any, fsdp_min_size: int = 2**14) -> Any:
    """NamedShardings for a tree of arrays or ShapeDtypeStructs (params, optimizer state, ...).

    The same rule serves parameters and optimizer state: momentum / Adam moments have the
    parameters' shapes, so they are sharded exactly like the parameters they belong to.
    """
    fsdp_size = mesh.shape[FSDP_AXIS]
    return jax.tree.map(
        lambda leaf: NamedSharding(mesh, _fsdp_spec(leaf.shape, fsdp_size, fsdp_min_size)),
        abstract_tree,
    )


def global_batch(mesh: Mesh, local_batch: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
    """Joins every process's local batch into global arrays sharded over the batch axes.

    Each process passes only its own examples (batch_size / process_count of them); non-numeric
    entries such as video ids ('key') stay on the host and are dropped here.
    """
    sharding = batch_sharding(mesh)
    local_devices = len(mesh.local_devices)
    result = {}
    for name, array in local_batch.items():
        array = np.asarray(array)
        if array.dtype.kind not in "biuf":
            continue
        if array.shape[0] % local_devices:
            raise ValueError(
                f"Batch entry '{name}' has {array.shape[0]} examples on this process, not "
                f"divisible by its {local_devices} local devices."
            )
        result[name] = jax.make_array_from_process_local_data(sharding, array)
    return result
