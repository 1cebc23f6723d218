"""Trains, evaluates, tests and predicts with the ViViT a config describes.

`train_and_evaluate` is the whole training job and reads top to bottom: check the config and the
workdir, open the data, build the mesh, model, optimizer and sharded state, resume from the
workdir's latest checkpoint (or initialize from `config.init_from` at step 0), then loop: train
step, summaries, validation, checkpoints, periodic multi-view test; a multi-view test at the end.
Every piece lives in `vivit/`; this file only wires them together.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any, Callable, Sequence

import jax
import ml_collections
import numpy as np
import optax
from etils import epath
from jax.experimental import multihost_utils
from jax.sharding import Mesh

import vivit.flops
from vivit import pretrained, provenance, tasks
from vivit import workdir as workdir_lib
from vivit import data as data_lib
from vivit.formats.readers import READERS
from vivit.config import complete
from vivit.data import preprocess
from vivit.data.video_file import expand_video_paths
from vivit.models import build_model
from vivit.run import load_run
from vivit.train import cadence as cadence_lib
from vivit.train import checkpointing, evaluation, workdir_lock
from vivit.train import mesh as mesh_lib
from vivit.train import metrics as metrics_lib
from vivit.train import mixup as mixup_lib
from vivit.train import optimizer as opt_lib
from vivit.train import state as state_lib
from vivit.train import step as step_lib
from vivit.train.summaries import Summaries
from vivit.train.timing import StepTimer

@dataclasses.dataclass
class Run:
    """What a config builds before any step runs: devices, model, optimizer and the state's
    sharded layout. `state` stays None until it is restored or created."""

    config: ml_collections.ConfigDict
    task: tasks.Task  # What the labels are: loss, metrics, prediction (`vivit.tasks`).
    mesh: Mesh
    model: Any
    optimizer: optax.GradientTransformation
    schedule: optax.Schedule
    abstract_state: Any  # ShapeDtypeStructs with shardings: what Orbax restores into.
    shardings: Any
    create_state: Callable[[], state_lib.TrainState]
    state: state_lib.TrainState | None = None

    @property
    def zero_centering(self) -> bool:
        """The model's input range: [-1, 1], else [0, 1] (uint8 batches convert on device)."""
        return bool(self.config.dataset_configs.zero_centering)

    @functools.cached_property
    def train_step(self) -> Callable:
        """The training step exactly as the loop runs it (loss, L2, mixup, accumulation,
        finite-update guard), jitted with the state's shardings and donated buffers."""
        config = self.config
        return step_lib.jit_train_step(
            step_lib.make_train_step(
                self.model, self.optimizer, self.task, self.schedule,
                l2_decay_factor=config.get("l2_decay_factor"),
                gradient_accumulation_steps=int(config.gradient_accumulation_steps or 1),
                mixup_fn=_mixup_fn(config, self.task), zero_centering=self.zero_centering),
            self.mesh, self.shardings)

    @functools.cached_property
    def eval_step(self) -> Callable:
        """Single-view validation step, jitted once per run."""
        return step_lib.jit_eval_step(
            step_lib.make_eval_step(self.model, self.task, zero_centering=self.zero_centering),
            self.mesh, self.shardings)

    @functools.cached_property
    def test_step(self) -> Callable:
        """Multi-view test step, jitted once per run (periodic tests reuse it)."""
        return step_lib.jit_eval_step(
            step_lib.make_multiview_test_step(
                self.model, self.task,
                average_softmax=bool(self.config.multicrop_softmax_logits),
                views_at_once=int(self.config.multicrop_clips_per_device),
                zero_centering=self.zero_centering),
            self.mesh, self.shardings)


def checked_mesh(config: ml_collections.ConfigDict) -> Mesh:
    """The device mesh, after checking that it divides every split's batch."""
    mesh = mesh_lib.build_mesh(config)
    mesh_lib.check_batch_size(config.batch_size, mesh)
    for split, key in (("validation", "eval_batch_size"), ("test", "dataset_configs.test_batch_size")):
        mesh_lib.check_batch_size(data_lib.batch_size_of_split(config, split), mesh, key)
    return mesh


def build_run(config: ml_collections.ConfigDict, task: tasks.Task, total_steps: int,
              mesh: Mesh | None = None) -> Run:
    """Model, optimizer and sharded state for `total_steps` steps on `mesh` (default: built)."""
    mesh = checked_mesh(config) if mesh is None else mesh
    model = build_model(config, task)
    optimizer, schedule = opt_lib.build_optimizer(
        config, opt_lib.num_optimizer_updates(config, total_steps))
    clip = preprocess.ClipSettings.from_config(config.dataset_configs).input_shape(task.inputs)
    abstract, shardings, create = state_lib.plan_train_state(
        model, optimizer, (1,) + clip, jax.random.PRNGKey(config.rng_seed), mesh,
        int(config.mesh.fsdp_min_size))
    return Run(config, task, mesh, model, optimizer, schedule, abstract, shardings, create)


def _to_host(tree: Any) -> Any:
    """Numpy copy of a (possibly multi-host sharded) tree, the same on every process."""
    if all(leaf.is_fully_addressable for leaf in jax.tree.leaves(tree)):
        return jax.device_get(tree)
    return multihost_utils.process_allgather(tree, tiled=True)


def restore_or_initialize(run: Run, checkpointer: checkpointing.Checkpointer) -> None:
    """Resumes from the workdir's latest checkpoint, else creates the state and applies init_from.

    Pretrained initialization only ever happens at step 0 of a fresh workdir, so a resumed run
    never has its trained weights replaced.
    """
    try:
        restored, corrupt = checkpointer.restore_newest_intact(run.abstract_state)
    except checkpointing.CorruptCheckpointError:
        raise
    except ValueError as error:  # Orbax: the saved tree does not have this state's structure.
        raise ValueError(
            f"The latest checkpoint in {checkpointer.directory} does not fit the train state of "
            "this config (the model or the optimizer changed since it was written). Resume with "
            "the original config, or start a new workdir with --config.init_from.checkpoint_path="
            f"{checkpointer.directory.parent} to load its parameters only. Orbax: "
            f"{str(error).splitlines()[0]}") from error
    # The resumed run saves these step numbers again: move the damaged ones aside (not deleted).
    checkpointer.set_aside([step for step, _ in corrupt])
    if restored is not None:
        run.state = restored
        logging.info("Resumed from %s at step %d.", checkpointer.directory, int(restored.step))
        return
    run.state = run.create_state()
    if run.config.init_from.checkpoint_path:
        params = pretrained.initialize(_to_host(run.state.params), run.config)
        run.state = state_lib.replace_params(run.state, params, run.optimizer, run.shardings)


def _mixup_fn(config: ml_collections.ConfigDict, task: tasks.Task) -> step_lib.MixupFn | None:
    alpha = config.mixup.get("alpha")
    if not alpha:
        return None

    def mix(rng: jax.Array, inputs: jax.Array, labels: jax.Array):
        targets = task.targets(labels)
        mixed_inputs, mixed_targets, _ = mixup_lib.mixup(rng, inputs, targets, float(alpha))
        return mixed_inputs, mixed_targets

    return mix


def multiview_test(
    run: Run, dataset: data_lib.VideoDataset, max_batches: int | None = None
) -> dict[str, float]:
    """Multi-view accuracy over the test split, with the single-view figures and video count."""
    result = evaluation.evaluate(
        run.test_step, run.state, dataset.batches(), run.mesh, max_batches=max_batches)
    result["num_videos"] = result.pop("num_examples")
    result["views_per_video"] = float(dataset.meta.views)
    return result


def validate(run: Run, dataset: data_lib.VideoDataset) -> dict[str, float]:
    """Single-view metrics over the validation split (at most config.steps_per_eval batches)."""
    return evaluation.evaluate(
        run.eval_step, run.state, dataset.batches(), run.mesh,
        max_batches=run.config.get("steps_per_eval"))


def _log_test(step: int, result: dict[str, float], task: tasks.Task) -> None:
    """One line with the task's headline metric (accuracy, joint accuracy or mAP)."""
    name = task.best_metric
    logging.info(
        "Multi-view test at step %d: %s %.4f over %d videos x %d views "
        "(single-view %s %.4f).", step, name, result[name], int(result["num_videos"]),
        int(result["views_per_video"]), name, result[f"single_view_{name}"])


@dataclasses.dataclass
class CheckedRun:
    """Everything a training run opens and checks before it writes anything."""

    config: ml_collections.ConfigDict
    train_data: data_lib.VideoDataset
    valid_data: data_lib.VideoDataset
    test_data: data_lib.VideoDataset | None
    cadence: cadence_lib.Cadence
    run: Run


def check_init_from(
    config: ml_collections.ConfigDict, workdir: str, abstract_params: Any = None
) -> None:
    """When a fresh run will initialize from config.init_from, its file must exist, be of a
    known format and (given the model's `abstract_params`) fit the model: it is adapted once
    onto zeros of the params' shapes. A resumed run never reads it, so it is not checked then."""
    path = config.init_from.get("checkpoint_path")
    if not path or workdir_lib.finished_steps(workdir):
        return
    fmt = config.init_from.get("checkpoint_format")
    if fmt:
        if not epath.Path(path).exists():
            raise pretrained.CheckpointError(
                f"init_from.checkpoint_path='{path}' does not exist.")
        if fmt not in READERS:
            raise pretrained.CheckpointError(
                f"init_from.checkpoint_format={fmt!r} is not one of "
                f"{sorted(READERS)}.")
    else:
        pretrained.detect_format(str(path))
    if abstract_params is not None:
        zeros = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), abstract_params)
        pretrained.initialize(zeros, config)


def check_training_run(config: ml_collections.ConfigDict, workdir: str) -> CheckedRun:
    """Checks everything a run can check before it writes anything into `workdir`: config
    numbers, data location and size, schedule, mesh, model shapes (an abstract build, no
    weights), init_from; raises ValueError/OSError naming the key, so a refused run leaves the
    workdir exactly as it was."""
    opt_lib.check_batch_sizes_and_learning_rate(config)
    task = tasks.task_for_config(config)  # Built once here, handed to everything below.
    train_data = data_lib.get_dataset(config, "train", task)
    valid_data = data_lib.get_dataset(config, "validation", task)
    cadence = cadence_lib.loop_cadence(config, train_data.meta.num_examples)
    config = opt_lib.resolve_schedule(config, train_data.meta.num_examples)
    mesh = checked_mesh(config)
    run = build_run(config, task, cadence.total_steps, mesh)
    test_data = None
    if config.dataset_configs.do_multicrop_test:
        test_data = data_lib.get_dataset(config, "test", task)
    check_init_from(config, workdir, run.abstract_state.params)
    return CheckedRun(config, train_data, valid_data, test_data, cadence, run)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
    """Trains (resuming from `workdir`), validating, checkpointing and testing on the way.

    Returns the final multi-view test metrics (empty when do_multicrop_test is off, or when
    the run stopped early for a preemption). Everything is checked before anything is written;
    the workdir is then locked against a second training run until this one ends.
    """
    # 1. Check what we were given before anything is written or compiled.
    checked = check_training_run(complete(config), workdir)
    workdir_path = workdir_lib.ensure_writable(workdir)
    lock = workdir_lock.acquire_for_job(workdir_path)
    try:
        return _train(checked, workdir_path)
    finally:
        if lock is not None:
            lock.release()


def _train(checked: CheckedRun, workdir_path: epath.Path) -> dict[str, float]:
    """The training job proper, in a locked workdir, from checked inputs."""
    config, run, cadence = checked.config, checked.run, checked.cadence
    train_data, valid_data, test_data = checked.train_data, checked.valid_data, checked.test_data
    if jax.process_index() == 0:  # What using the run needs, beside its checkpoints.
        workdir_lib.write_config(workdir_path, config)
        workdir_lib.write_label_names(workdir_path, train_data.meta.label_names)

    # 2. Resume or initialize the state.
    checkpointer = checkpointing.Checkpointer(
        workdir_path, save_every=cadence.checkpoint_every,
        max_to_keep=int(config.max_checkpoints_to_keep),
        best_metric=tasks.best_checkpoint_metric(config, run.task)) if config.checkpoint \
        else checkpointing.NoCheckpoints(workdir_path)
    restore_or_initialize(run, checkpointer)
    step = start_step = int(run.state.step)
    if jax.process_index() == 0:  # This start: the data it reads, the code's versions.
        splits = {"train": train_data, "validation": valid_data, "test": test_data}
        sizes = {name: data.meta.num_examples for name, data in splits.items() if data}
        workdir_lib.write_record(workdir_path, step=start_step,
                                 data=data_lib.data_record(config, sizes),
                                 versions=provenance.code_versions())
    logging.info("Training steps %d -> %d (%d per epoch) on a %s mesh.", step,
                 cadence.total_steps, cadence.steps_per_epoch, dict(run.mesh.shape))

    train_step = run.train_step
    summaries = Summaries(workdir_path, total_steps=cadence.total_steps,
                          progress_every=cadence.summary_every,
                          write_tensorboard=bool(config.write_summary))
    test_every = None
    if config.dataset_configs.get("log_test_epochs"):
        test_every = max(1, int(config.dataset_configs.log_test_epochs * cadence.steps_per_epoch))
    preemption = checkpointing.PreemptionSignal()
    timer = StepTimer()
    train_metrics = None

    # 3. The loop. Batches are a function of (seed, step, process): resuming at `step` reads
    # exactly the batches an uninterrupted run would.
    try:
        batches = train_data.batches(start_step=start_step)
        while step < cadence.total_steps:
            if preemption.reached(step):
                checkpointer.save(step, run.state, force=True)
                checkpointer.wait()
                logging.warning("Preempted: saved step %d in %s; exiting.", step,
                                checkpointer.directory)
                return {}
            timer.begin_step()
            local_batch = next(batches)
            timer.data_ready()
            run.state, step_metrics, finite = train_step(
                run.state, mesh_lib.global_batch(run.mesh, local_batch))
            step_lib.check_finite(finite, step, step_metrics)
            step += 1
            timer.step_done()
            train_metrics = metrics_lib.merge_metrics(train_metrics, step_metrics)
            summaries.progress(step)

            if step == start_step + 1:
                _write_model_size(summaries, run, step)
            if cadence.due(step, cadence.summary_every):
                values = metrics_lib.compute_metrics(train_metrics)
                values.update(timer.summary(int(config.batch_size)))
                summaries.write(step, "train", values)
                train_metrics = None
            valid_metrics = None
            if cadence.due(step, cadence.eval_every):
                valid_metrics = validate(run, valid_data)
                summaries.write(step, "valid", valid_metrics)
            saved = checkpointer.save(step, run.state, metrics=valid_metrics,
                                      force=step == cadence.total_steps)
            if test_data is not None and test_every and step % test_every == 0 \
                    and step < cadence.total_steps:
                result = multiview_test(run, test_data, config.get("steps_per_test"))
                summaries.write(step, "test", result)
                _log_test(step, result, run.task)
            # A remote workdir's events are uploaded (at least) with every checkpoint, so a
            # killed run's curve has no gap before the step it resumes from.
            summaries.flush(upload=saved)

        # 4. The multi-view test over the whole test split.
        result: dict[str, float] = {}
        if test_data is not None:
            result = multiview_test(run, test_data)
            summaries.write(step, "test", result)
            _log_test(step, result, run.task)
        return result
    finally:
        # Whatever stopped the loop (end, preemption, NaN loss, an error), pending asynchronous
        # saves finish before the process exits, so no checkpoint is left half-written.
        checkpointer.close()
        summaries.close()
        preemption.restore_handlers()


def _write_model_size(summaries: Summaries, run: Run, step: int) -> None:
    """Parameter count and (config.count_flops) GFLOPs per clip, written at the first step."""
    values = {"num_params": float(state_lib.count_params(run.state.params))}
    if run.config.count_flops:
        values["gflops"] = vivit.flops.count(run.config, run.task).gflops
    summaries.write(step, "model", values)


def _restore_for_inference(
    config: ml_collections.ConfigDict, task: tasks.Task, workdir: str, checkpoint: str
) -> Run:
    """The state of checkpoint `checkpoint` ('latest', 'best' or a step) in `workdir`."""
    lr = config.lr_configs
    if lr.get("warmup_epochs") is not None and lr.get("warmup_steps") is None:
        # As training does: epochs of warmup become optimizer updates from the train split's size.
        config = opt_lib.resolve_schedule(
            config, data_lib.get_dataset(config, "train", task).meta.num_examples)
    # The schedule's length does not change the state's structure, which is all a restore needs;
    # any length the schedule accepts will do.
    lr = config.lr_configs
    schedule_steps = config.get("num_training_steps") or (
        max(int(lr.warmup_steps or 0), int(lr.steps_per_cycle or 0)) + 1)
    run = build_run(config, task, total_steps=int(schedule_steps))
    directory = workdir_lib.checkpoint_dir(workdir)
    if not directory.is_dir():
        raise FileNotFoundError(f"No checkpoints in workdir '{workdir}' (no {directory}).")
    checkpointer = checkpointing.Checkpointer(
        workdir, save_every=1, max_to_keep=1 << 30,
        best_metric=tasks.best_checkpoint_metric(config, task))
    try:
        if checkpoint == "latest":
            run.state, _ = checkpointer.restore_newest_intact(run.abstract_state)
            if run.state is None:
                raise FileNotFoundError(f"No checkpoint in {directory}.")
        else:
            step = checkpointer.best_step() if checkpoint == "best" else int(checkpoint)
            if step is None:
                raise FileNotFoundError(f"No {checkpoint} checkpoint in {directory}.")
            steps = workdir_lib.finished_steps(workdir)
            if step not in steps:
                raise FileNotFoundError(
                    f"No checkpoint of step {step} in {directory}; it has steps {steps}.")
            run.state = _restore_step(checkpointer, run.abstract_state, step)
    finally:
        checkpointer.close()
    logging.info("Restored step %d from %s.", int(run.state.step), directory)
    return run


def _restore_step(checkpointer: checkpointing.Checkpointer, abstract_state: Any, step: int) -> Any:
    """Restores one named step; a damaged one is named as corrupt, not as a config change."""
    try:
        return checkpointer.restore(abstract_state, step)
    except Exception as error:
        try:
            mismatch = checkpointer.diagnose(step, abstract_state)
        except checkpointing.CorruptCheckpointError as corrupt:
            raise checkpointing.CorruptCheckpointError(
                f"Checkpoint step {step} in {checkpointer.directory} is corrupt: {corrupt} Pick "
                "another with --checkpoint (python -m vivit.pretrained info WORKDIR lists the "
                "intact steps).") from error
        if mismatch:
            raise ValueError(f"Checkpoint step {step} in {checkpointer.directory} does not fit "
                             f"this config's train state: {mismatch}.") from error
        raise


def evaluate_checkpoint(
    config: ml_collections.ConfigDict, workdir: str, split: str, checkpoint: str = "latest"
) -> dict[str, float]:
    """--mode=eval (single-view validation) or --mode=test (multi-view test) on a checkpoint."""
    config = complete(config)
    task = tasks.task_for_config(config)
    run = _restore_for_inference(config, task, workdir, checkpoint)
    step = int(run.state.step)
    summaries = Summaries(workdir, total_steps=max(step, 1), progress_every=1,
                          write_tensorboard=bool(config.write_summary))
    try:
        if split == "test":
            result = multiview_test(run, data_lib.get_dataset(config, "test", task))
            _log_test(step, result, run.task)
            summaries.write(step, "test", result)
        else:
            result = validate(run, data_lib.get_dataset(config, "validation", task))
            summaries.write(step, "valid", result)
    finally:
        summaries.close()
    return result


@dataclasses.dataclass
class Prediction:
    """What --mode=predict says about one video file: its top classes, or why there are none."""

    path: str
    # (label name, probability), best first (per head for multi-head models; for multi-label
    # ones the classes at or above 0.5, else the top-k).
    top: list[tuple[str, float]] | None = None
    error: str | None = None
    lines: list[str] | None = None  # How the task prints `top`.


def predict(
    config: ml_collections.ConfigDict, workdir: str, video_paths: Sequence[str],
    checkpoint: str = "latest", top_k: int = 5,
) -> list[Prediction]:
    """Top-k (label name, probability) per video file (per head for multi-head models, the
    classes at or above 0.5 for multi-label ones), from the test pipeline's views averaged.

    A directory in `video_paths` stands for the video files below it. The run is loaded with
    its parameters alone (`vivit.run.load_run`: no optimizer state, no dataset opened); each file
    is decoded with PyAV and cut into the configured test views (num_test_clips x spatial
    crops), whose logits (or softmaxes, multicrop_softmax_logits) are averaged. A file that is
    missing or cannot be decoded gets a Prediction with its error and the others go on; a bad
    config or checkpoint still raises.
    """
    config = complete(config)
    if not video_paths:
        raise ValueError("--mode=predict needs video files: main.py ... --mode=predict a.mp4 b.mp4")
    expanded = expand_video_paths(video_paths)
    if all(error for _, error in expanded):  # Nothing to predict: no restore, no compile.
        return [Prediction(path, error=error) for path, error in expanded]
    run = load_run(workdir, checkpoint, config)
    logging.info("Loaded step %d of %s.", run.step, run.workdir)
    results = []
    for path, error in expanded:
        if error:
            results.append(Prediction(path, error=error))
            continue
        try:  # One file at a time: a bad file is reported, the others go on.
            prediction = run.predict(path, top_k)
        except (ValueError, OSError) as decode_error:
            results.append(Prediction(path, error=str(decode_error)))
            continue
        results.append(Prediction(path, top=prediction.top, lines=prediction.lines))
    return results
