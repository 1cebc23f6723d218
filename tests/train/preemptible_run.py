"""A miniature training loop over vivit.train blocks that resumes and obeys SIGTERM.

    python -m tests.train.preemptible_run WORKDIR NUM_STEPS [STEP_SLEEP_SECONDS [PROCESS_ID PORT]]

With PROCESS_ID and PORT it is one of two processes joined by jax.distributed (2 CPU devices
each), each feeding its half of every batch.

Prints 'resumed <step>' when it restores, 'loss <step> <value>' per step, and
'preempted <step>' after the clean save that follows SIGTERM (then exits 0).
"""

import sys
import time

import jax

from tests.train.tiny_model import batch_for_step, tiny_config, tiny_training
from vivit import workdir as workdir_lib
from vivit.train import checkpointing, mesh as mesh_lib, step as step_lib


def main(workdir: str, num_steps: int, sleep: float) -> int:
    if jax.process_count() > 1:
        print(f"process {jax.process_index()} of {jax.process_count()}", flush=True)
    config = tiny_config(num_training_steps=num_steps)
    workdir_lib.ensure_writable(workdir)
    workdir_lib.write_config(workdir, config)
    preemption = checkpointing.PreemptionSignal()
    mesh = mesh_lib.build_mesh(config)
    _, _, state, shardings, train_step = tiny_training(config, mesh, num_steps)
    checkpointer = checkpointing.Checkpointer(
        workdir, save_every=3, max_to_keep=config.max_checkpoints_to_keep)
    abstract = jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)
    restored = checkpointer.restore(abstract)
    if restored is not None:
        state = restored
        print(f"resumed {int(state.step)}", flush=True)
    step = int(state.step)
    while step < num_steps:
        if preemption.reached(step):
            checkpointer.save(step, state, force=True)
            checkpointer.close()
            print(f"preempted {step}", flush=True)
            return 0
        full = batch_for_step(step, config.batch_size)
        per_process = config.batch_size // jax.process_count()
        start = jax.process_index() * per_process
        local = {name: value[start:start + per_process] for name, value in full.items()}
        state, step_metrics, finite = train_step(state, mesh_lib.global_batch(mesh, local))
        step_lib.check_finite(finite, step, step_metrics)
        print(f"loss {step} {float(step_metrics['training_loss'].compute())!r}", flush=True)
        step += 1
        checkpointer.save(step, state)
        time.sleep(sleep)
    checkpointer.save(step, state, force=True)
    checkpointer.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 5:
        jax.config.update("jax_num_cpu_devices", 2)
        jax.distributed.initialize(f"127.0.0.1:{sys.argv[5]}", num_processes=2,
                                   process_id=int(sys.argv[4]))
    code = main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0)
    if len(sys.argv) > 5:
        jax.distributed.shutdown()
    sys.exit(code)
