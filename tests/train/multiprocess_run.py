"""Tiny-model losses from one process of a `jax.distributed` job, or from a single process.

    python -m tests.train.multiprocess_run single DEVICES
    python -m tests.train.multiprocess_run PROCESS_ID DEVICES_PER_PROCESS PORT

Each process of the 2-process job feeds only its half of every global batch (as the data
pipeline does); process 0 prints the loss curve as JSON.
"""

import json
import sys

import jax

STEPS = 4


def main(argv):
    role, devices = argv[0], int(argv[1])
    jax.config.update("jax_num_cpu_devices", devices)
    if role != "single":
        jax.distributed.initialize(f"127.0.0.1:{argv[2]}", num_processes=2, process_id=int(role))
    from tests.train.tiny_model import batch_for_step, tiny_config, tiny_training
    from vivit.train import mesh as mesh_lib, step as step_lib

    config = tiny_config(**{"mesh.fsdp": 2, "mesh.fsdp_min_size": 64})
    mesh = mesh_lib.build_mesh(config)
    mesh_lib.check_batch_size(config.batch_size, mesh)
    *_, state, _, train_step = tiny_training(config, mesh, STEPS)
    per_process = config.batch_size // jax.process_count()
    start = jax.process_index() * per_process
    curve = []
    for step in range(STEPS):
        full = batch_for_step(step, config.batch_size)
        local = {name: value[start:start + per_process] for name, value in full.items()}
        state, step_metrics, finite = train_step(state, mesh_lib.global_batch(mesh, local))
        step_lib.check_finite(finite, step, step_metrics)
        curve.append(float(step_metrics["training_loss"].compute()))
    if jax.process_index() == 0:
        print(json.dumps({"processes": jax.process_count(), "devices": jax.device_count(),
                          "losses": curve}), flush=True)
    if role != "single":
        jax.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
