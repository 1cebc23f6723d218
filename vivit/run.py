"""A trained run, loaded from its workdir alone: `load_run(workdir)`.

    import vivit
    run = vivit.load_run("/tmp/vivit_demo")              # newest intact checkpoint
    print(run.predict("video.mp4", top_k=3).lines)       # the run's own test-time views
    logits = run.logits(run.preprocess("video.mp4"))     # [views, outputs]

What is loaded is what using the run needs: the config it trained with (config.json, completed
with this version's defaults), its task and class names, the model and the parameters of one
checkpoint step (read alone: no optimizer state, no dataset opened), and its record (data and
code versions, run.json). Local and gs:// workdirs alike.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vivit import storage, tasks, workdir
from vivit.config import complete
from vivit.data import preprocess
from vivit.data.source import VideoRecord
from vivit.data.video_file import read_video_file
from vivit.models import build_model
from vivit.train import checkpointing, pixels

STATE_ITEM = "state"  # the Orbax item a step's train state is saved under
_METRICS_FILE = ("metrics", "metrics")  # a step's validation metrics, written with it


class RunError(ValueError):
    """A workdir that cannot be loaded as a run: one line naming what is missing or wrong."""


@dataclasses.dataclass
class Prediction:
    """One video's prediction: (name, probability) pairs, best first (per head for multi-head
    runs; the classes at or above 0.5 for multi-label ones, else the top-k) and the lines
    --mode=predict prints for them."""

    top: list[tuple[str, float]]
    lines: list[str]
    probabilities: np.ndarray  # [outputs], from the views' averaged scores


@dataclasses.dataclass
class TrainedRun:
    """The run of `workdir` at checkpoint `step` (see the module docstring)."""

    workdir: str
    step: int
    config: ml_collections.ConfigDict
    task: tasks.Task
    label_names: list[str]  # one per output
    model: nn.Module
    params: Any
    record: dict | None  # run.json: each start's data and code versions (None: older runs)

    @property
    def clip_settings(self) -> preprocess.ClipSettings:
        """Frames, stride, resize, crops and test views, from the run's config."""
        return preprocess.ClipSettings.from_config(self.config.dataset_configs)

    def preprocess(self, video: str | VideoRecord | np.ndarray) -> np.ndarray:
        """uint8 test views [views, frames, crop, crop, 3] of a video file's path, a decoded
        record, or frames [time, height, width, 3] (uint8 RGB), exactly as the run tests."""
        if isinstance(video, (str, os.PathLike)):
            video = read_video_file(os.fspath(video))
        elif isinstance(video, np.ndarray):
            video = _record_of_frames(video)
        return preprocess.test_views(video, self.clip_settings)

    def logits(self, views: np.ndarray) -> np.ndarray:
        """Per-view logits [views, outputs] of uint8 (or model-range float) views."""
        return np.asarray(self._apply(self.params, jnp.asarray(views)))

    def predict(self, video: str | VideoRecord | np.ndarray, top_k: int = 5) -> Prediction:
        """The run's prediction for one video: its views averaged as the multi-view test does."""
        per_view = jnp.asarray(self.logits(self.preprocess(video)))[:, None]  # [views, 1, out]
        scores = self.task.average_views(per_view, bool(self.config.multicrop_softmax_logits))
        probabilities = np.asarray(self.task.probabilities(scores))[0]
        top, lines = self.task.describe(probabilities, self.label_names, top_k)
        return Prediction(top, lines, probabilities)

    @functools.cached_property
    def _apply(self) -> Any:
        """The model on uint8 (or model-range) views, jitted once per loaded run."""
        zero_centering = bool(self.config.dataset_configs.zero_centering)

        def apply(params: Any, views: jax.Array) -> jax.Array:
            inputs = pixels.to_model_range(views, zero_centering)
            return self.model.apply({"params": params}, inputs, train=False).astype(jnp.float32)

        return jax.jit(apply)


def _record_of_frames(frames: np.ndarray) -> VideoRecord:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"Frames must be uint8 RGB [time, height, width, 3], got "
                         f"{frames.dtype} {list(frames.shape)}.")
    return VideoRecord(num_frames=len(frames), label=-1, key="frames",
                       read_frames=lambda indices: frames[np.asarray(indices)])


def run_config(path: str | os.PathLike) -> ml_collections.ConfigDict:
    """The completed config the run in `path` trained with (its config.json)."""
    try:
        return complete(ml_collections.ConfigDict(workdir.read_config_values(path)))
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise RunError(str(error).splitlines()[0]) from None


def step_metrics(path: str | os.PathLike, step: int) -> dict[str, float] | None:
    """The validation metrics saved with a step (what 'best' ranks by), or None."""
    file = storage.join(os.fspath(workdir.checkpoint_dir(path)), str(step), *_METRICS_FILE)
    if not storage.isfile(file):
        return None
    try:
        return json.loads(storage.read_text(file))
    except ValueError:
        return None


def choose_step(path: str | os.PathLike, checkpoint: str | int, metric: str | None
                ) -> list[int]:
    """The steps to try for `checkpoint` ('latest': newest first, so a damaged newest step
    falls back to the one before; 'best': the step with the highest `metric`; or a step)."""
    steps = workdir.finished_steps(path)
    where = workdir.checkpoint_dir(path)
    if not steps:
        raise RunError(f"No checkpoint in {where}.")
    if checkpoint == "latest":
        return steps[::-1]
    if checkpoint == "best":
        if not metric:
            raise RunError("checkpoint='best' needs best_checkpoint_metric, which this run's "
                           "config turns off.")
        ranked = [(values[metric], step) for step in steps
                  if (values := step_metrics(path, step)) and metric in values]
        if not ranked:
            raise RunError(f"No checkpoint in {where} has the validation metric {metric!r}.")
        return [max(ranked)[1]]
    step = int(checkpoint)
    if step not in steps:
        raise RunError(f"No checkpoint of step {step} in {where}; it has steps {steps}.")
    return [step]


def restore_params(step_dir: str, abstract_params: Any) -> Any:
    """The parameters of one saved train state, read alone (no optimizer state), as numpy."""
    import orbax.checkpoint as ocp

    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray),
                                abstract_params)
    item = workdir.resolve(step_dir) / STATE_ITEM
    restored = ocp.PyTreeCheckpointer().restore(item, args=ocp.args.PyTreeRestore(
        item={"params": abstract_params}, restore_args={"params": restore_args},
        partial_restore=True))
    return restored["params"]


def _abstract_params(config: ml_collections.ConfigDict, task: tasks.Task, model: nn.Module
                     ) -> Any:
    """The model's parameters as shapes and dtypes (nothing allocated), for one clip."""
    clip = preprocess.ClipSettings.from_config(config.dataset_configs).input_shape(task.inputs)
    return jax.eval_shape(lambda: model.init(
        jax.random.PRNGKey(0), jnp.zeros((1,) + clip, jnp.float32), train=False))["params"]


def load_run(path: str | os.PathLike, checkpoint: str | int = "latest",
             config: ml_collections.ConfigDict | None = None) -> TrainedRun:
    """Loads the run in `path` (a workdir, local or gs://) at `checkpoint`: 'latest' (the
    newest step that reads), 'best' (by the run's best_checkpoint_metric) or a step number.
    `config` replaces the run's own (e.g. with test-time keys changed); it must build a model
    of the same parameter shapes."""
    root = os.fspath(workdir.resolve(path))
    config = run_config(root) if config is None else config
    task = tasks.task_for_config(config)
    model = build_model(config, task)
    abstract = _abstract_params(config, task, model)
    failures = []
    checkpointing.drop_closed_loop_reports()  # a damaged step's leftover reads stay quiet
    for step in choose_step(root, checkpoint, tasks.best_checkpoint_metric(config, task)):
        step_dir = os.fspath(workdir.checkpoint_dir(root) / str(step))
        try:
            params = restore_params(step_dir, abstract)
        except Exception as error:  # Orbax raises many types for damaged or foreign steps.
            checkpointing.quiet_abandoned_reads(step_dir)
            message = (str(error).strip().splitlines() or [type(error).__name__])[0]
            logging.warning("Checkpoint step %d in %s cannot be read (%s); trying the one "
                            "before.", step, root, message)
            failures.append(f"step {step}: {message}")
            continue
        names = task.output_names(workdir.read_label_names(root))
        return TrainedRun(root, step, config, task, names, model,
                          jax.tree.map(jnp.asarray, params), workdir.read_record(root))
    raise RunError(f"No checkpoint of {root} could be read: " + "; ".join(failures))


def shape_changing_differences(run: ml_collections.ConfigDict,
                               given: ml_collections.ConfigDict) -> list[str]:
    """'key: run X, config Y' for the keys in which `given` differs from the run's config when
    the two build models whose parameters differ in shape (empty when the shapes agree)."""

    def shapes(config: ml_collections.ConfigDict) -> Any:
        task = tasks.task_for_config(config)
        abstract = _abstract_params(config, task, build_model(config, task))
        return jax.tree.map(lambda leaf: leaf.shape, abstract)

    if shapes(run) == shapes(given):
        return []
    # Compared as config.json holds them (tuples as lists), so only real differences show.
    differing = workdir.config_differences(*(json.loads(config.to_json_best_effort())
                                             for config in (run, given)))
    model_keys = [line for line in differing if line.startswith(
        ("model_name", "model.", "dataset_configs.num_classes", "dataset_configs.class_splits",
         "dataset_configs.num_frames", "dataset_configs.crop_size"))]
    return [_run_and_config(line) for line in (model_keys or differing)]


def _run_and_config(difference: str) -> str:
    key, _, values = difference.partition(": ")
    old, _, new = values.partition(" -> ")
    return f"{key}: run {old}, config {new}"
