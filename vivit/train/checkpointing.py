"""Orbax checkpoints of the train state in the workdir: periodic async saves, resume, preemption.

Orbax writes each step to a temporary directory and renames it when complete, so a killed run
never leaves a half-written step behind (leftover temporaries are deleted on the next start), and
an existing step is never overwritten. We keep the last `max_checkpoints_to_keep` steps plus the
best one by a validation metric. Where the steps lie is the workdir's business (`vivit.workdir`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Any, Mapping

import jax
import numpy as np
from etils import epath
from jax.experimental import multihost_utils
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as preservation

from vivit import workdir as workdir_lib

STATE_ITEM = "state"


class CorruptCheckpointError(ValueError):
    """A checkpoint step whose files cannot be read: its metadata or an array file is damaged."""


def _leaf_signature(tree: Any) -> list[tuple[int, ...]]:
    """Sorted shapes of every leaf: what must match for a restore to fit."""
    return sorted(tuple(int(d) for d in getattr(leaf, "shape", ()))
                  for leaf in jax.tree.leaves(tree))


class _DropOrbaxMetadataNotes(logging.Filter):
    """Orbax warns that an item directory has no step metadata when asked for the item's own
    metadata directly, which is how we read it; those notes are expected, so they are dropped."""

    _EXPECTED = ("Metadata file does not exist", "Failed to get item metadata")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self._EXPECTED)


def _block_layout(tree: Any) -> str | None:
    """'stacked' (model.scan_layers) or 'per-layer' encoder blocks in a state tree; None if
    it has neither. Checkpoints are saved in the layout of the model that ran."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    paths = [jax.tree_util.keystr(path) for path, _ in leaves]
    if any("'encoderblock'" in path for path in paths):
        return "stacked"
    if any("'encoderblock_" in path for path in paths):
        return "per-layer"
    return None


@contextlib.contextmanager
def _quiet_item_metadata_notes():
    loggers = [logging.getLogger(), logging.getLogger("absl")]
    note_filter = _DropOrbaxMetadataNotes()
    for logger in loggers:
        logger.addFilter(note_filter)
        for handler in logger.handlers:
            handler.addFilter(note_filter)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(note_filter)
            for handler in logger.handlers:
                handler.removeFilter(note_filter)


def _saved_tree(step_dir: epath.Path) -> Any:
    """The tree of array metadata of a step's train state; raises CorruptCheckpointError."""
    item = epath.Path(step_dir) / STATE_ITEM
    if not item.exists():
        raise CorruptCheckpointError(f"{item} is missing.")
    try:
        with _quiet_item_metadata_notes():
            metadata = ocp.PyTreeCheckpointer().metadata(item)
    except Exception as error:  # Orbax and TensorStore raise many types for unreadable files.
        raise CorruptCheckpointError(
            f"the metadata of {item} cannot be read: {_first_line(error)}") from error
    tree = getattr(metadata, "item_metadata", metadata)
    tree = getattr(tree, "tree", tree)
    if not tree:
        raise CorruptCheckpointError(
            f"{item / '_METADATA'} is empty or unreadable (it lists no arrays).")
    return tree


class _AbandonedReadFilter(logging.Filter):
    """Drops asyncio's "... exception was never retrieved" reports for reads of a step
    already named as damaged: the restore error said it once, the leftover tasks say it again
    (with a traceback) when they are garbage-collected, at any time up to the process exit."""

    def __init__(self) -> None:
        super().__init__()
        self.directories: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if "exception was never retrieved" not in record.getMessage():  # Task or gathering future.
            return True
        error = record.exc_info[1] if record.exc_info else None
        return not self.concerns(f"{record.getMessage()} {error}")

    def concerns(self, text: str) -> bool:
        return any(directory in text for directory in self.directories)


_ABANDONED_READS = _AbandonedReadFilter()


def quiet_abandoned_reads(step_dir: str | os.PathLike) -> None:
    """After a failed restore of `step_dir`, TensorStore reads still in flight finish on
    Orbax's closed asyncio loop: Python prints a "RuntimeError: Event loop is closed" traceback
    for each (dozens), read coroutines closed mid-failure print theirs ("Exception ignored in"),
    and asyncio logs each failed read again when its task is collected. They say nothing the
    restore error did not, so drop exactly those."""
    _ABANDONED_READS.directories.add(os.fspath(step_dir).rstrip("/") + "/")
    asyncio_logger = logging.getLogger("asyncio")
    if _ABANDONED_READS not in asyncio_logger.filters:
        asyncio_logger.addFilter(_ABANDONED_READS)
    drop_closed_loop_reports()


def drop_closed_loop_reports() -> None:
    """Drops the "Event loop is closed" reports of reads finishing after a failed restore.

    Installed before every restore that may fail, not after: the first reads can finish while
    the failure is still propagating, before any except clause runs."""
    previous = sys.unraisablehook
    if getattr(previous, "_vivit_quiet", False):
        return

    def hook(unraisable: Any) -> None:
        error = unraisable.exc_value
        if isinstance(error, RuntimeError) and str(error) == "Event loop is closed":
            return
        if _ABANDONED_READS.concerns(str(error)):  # A read coroutine closed mid-failure.
            return
        previous(unraisable)

    hook._vivit_quiet = True  # type: ignore[attr-defined]
    sys.unraisablehook = hook


def _first_line(error: BaseException, limit: int = 300) -> str:
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text if len(text) <= limit else text[:limit] + "..."


def check_step_readable(step_dir: str | os.PathLike) -> None:
    """Reads every array of a checkpoint step to host memory; raises CorruptCheckpointError
    naming the first damaged file or array. Costs one full read of the step."""
    tree = _saved_tree(epath.Path(step_dir))
    drop_closed_loop_reports()
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    try:
        ocp.PyTreeCheckpointer().restore(
            epath.Path(step_dir) / STATE_ITEM, args=ocp.args.PyTreeRestore(restore_args=restore_args))
    except Exception as error:
        quiet_abandoned_reads(step_dir)
        raise CorruptCheckpointError(f"its arrays cannot be read: {_first_line(error)}") from error


def step_health(path: str | os.PathLike) -> list[tuple[int, str | None]]:
    """(step, None if intact else what is wrong), newest first, for every finished step of a
    workdir or its checkpoints/ folder (local or gs://). Every step is read in full."""
    root = workdir_lib.checkpoint_dir(path)
    if not root.is_dir():
        root = workdir_lib.resolve(path)
    health = []
    for step in reversed(workdir_lib.finished_steps(root)):
        try:
            check_step_readable(root / str(step))
            health.append((step, None))
        except CorruptCheckpointError as error:
            health.append((step, str(error)))
    return health


class Checkpointer:
    """Saves and restores the train state under <workdir>/checkpoints with Orbax.

    `save(step, state)` is asynchronous (training continues while the files are written) and
    happens every `save_every` steps, or always with force=True; pass the validation metrics
    to make the step a candidate for "best".
    """

    def __init__(
        self,
        workdir: str | os.PathLike,
        *,
        save_every: int,
        max_to_keep: int,
        best_metric: str | None = "accuracy",
    ) -> None:
        if save_every < 1:
            raise ValueError(f"config.checkpoint_steps must be >= 1, got {save_every}.")
        if max_to_keep < 1:
            raise ValueError(f"config.max_checkpoints_to_keep must be >= 1, got {max_to_keep}.")
        self.best_metric = best_metric
        self.save_every = save_every
        policies: list[Any] = [preservation.LatestN(n=max_to_keep)]
        if best_metric:
            policies.append(preservation.BestN(
                get_metric_fn=lambda metrics: metrics[best_metric], reverse=False, n=1,
                keep_checkpoints_without_metrics=False))
        # best_fn only makes best_step() rank by the metric; which steps are kept is decided by
        # the preservation policy alone. We decide when a save is due ourselves (see save()).
        options = ocp.CheckpointManagerOptions(
            best_fn=(lambda metrics: metrics[best_metric]) if best_metric else None,
            best_mode="max",
            preservation_policy=preservation.AnyPreservationPolicy(policies),
            enable_async_checkpointing=True,
            cleanup_tmp_directories=True,
            create=True,
        )
        directory = workdir_lib.checkpoint_dir(workdir_lib.ensure_writable(workdir))
        self._manager = ocp.CheckpointManager(directory, options=options)

    @property
    def directory(self) -> epath.Path:
        return epath.Path(self._manager.directory)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def best_step(self) -> int | None:
        return self._manager.best_step() if self.best_metric else None

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def save(
        self, step: int, state: Any, metrics: Mapping[str, float] | None = None,
        force: bool = False,
    ) -> bool:
        """Starts saving `state` as `step` if due (or forced); returns whether it saves.

        A step that already exists is left as it is (never overwritten).
        """
        if not (force or step % self.save_every == 0) or step in self._manager.all_steps():
            return False
        if metrics is not None and self.best_metric and self.best_metric not in metrics:
            raise KeyError(
                f"config.best_checkpoint_metric='{self.best_metric}' is not among the "
                f"validation metrics {sorted(metrics)}."
            )
        return self._manager.save(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardSave(state)),
            metrics=dict(metrics) if metrics is not None else None,
            force=True,
        )

    def restore(self, abstract_state: Any, step: int | None = None) -> Any | None:
        """The state at `step` (default: latest), laid out like `abstract_state`; None if none.

        `abstract_state` is a tree of jax.ShapeDtypeStruct with shardings (or arrays), e.g.
        from jax.eval_shape plus the state's shardings, so each array lands on its devices.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            return None
        restored = self._manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state)))
        return restored["state"]

    def step_directory(self, step: int) -> epath.Path:
        return epath.Path(self._manager.directory) / str(step)

    def diagnose(self, step: int, abstract_state: Any) -> str | None:
        """Why `step` cannot be restored into `abstract_state`: raises CorruptCheckpointError if
        its files are damaged, returns a reason if it holds another state structure, and returns
        None if neither (the step reads fine)."""
        check_step_readable(self.step_directory(step))
        saved = _saved_tree(self.step_directory(step))
        layouts = (_block_layout(saved), _block_layout(abstract_state))
        if None not in layouts and layouts[0] != layouts[1]:
            return (f"its encoder blocks are {layouts[0]} and this config's are {layouts[1]} "
                    "(model.scan_layers differs): resume with the run's model.scan_layers, or "
                    "start a new workdir with init_from.checkpoint_path set to this one (the "
                    "parameters convert, the optimizer state starts afresh)")
        if _leaf_signature(saved) != _leaf_signature(abstract_state):
            return (f"its {len(jax.tree.leaves(saved))} arrays do not have the shapes of the "
                    f"{len(jax.tree.leaves(abstract_state))} of this config's train state")
        return None

    def restore_newest_intact(
        self, abstract_state: Any
    ) -> tuple[Any | None, list[tuple[int, str]]]:
        """The newest step that restores into `abstract_state` (None if there is no step), and
        the (step, reason) of every newer step skipped as corrupt, each logged as a warning.

        A step that is intact but does not fit `abstract_state` raises ValueError (the model or
        optimizer changed): that is a config problem, not damage, and older steps would not fit
        either. Training then moves the skipped steps aside with `set_aside`, so the resumed run
        can save those step numbers again.
        """
        skipped: list[tuple[int, str]] = []
        drop_closed_loop_reports()
        for step in sorted(self.all_steps(), reverse=True):
            try:
                return self.restore(abstract_state, step), skipped
            except Exception as error:  # Classified below; anything else is re-raised.
                quiet_abandoned_reads(self.step_directory(step))
                try:
                    mismatch = self.diagnose(step, abstract_state)
                except CorruptCheckpointError as corrupt:
                    reason = str(corrupt)
                    logging.warning("Checkpoint step %d in %s is corrupt and is skipped: %s",
                                    step, self.directory, reason)
                    skipped.append((step, reason))
                    continue
                if mismatch:
                    raise ValueError(f"{mismatch}. Orbax: {_first_line(error)}") from error
                raise
        if skipped:
            raise CorruptCheckpointError(
                f"Every checkpoint in {self.directory} is corrupt: "
                + "; ".join(f"step {s}: {r}" for s, r in skipped)
                + ". Move them aside to start again, or use another workdir.")
        return None, skipped

    def set_aside(self, steps: list[int]) -> epath.Path | None:
        """Moves checkpoint steps to <workdir>/corrupt_checkpoints/ (process 0; all wait)."""
        if not steps:
            return None
        target = workdir_lib.corrupt_dir(epath.Path(self._manager.directory).parent)
        if jax.process_index() == 0:
            target.mkdir(parents=True, exist_ok=True)
            for step in steps:
                destination = target / str(step)
                index = 1
                while destination.exists():
                    destination = target / f"{step}.{index}"
                    index += 1
                self.step_directory(step).rename(destination)
                logging.warning("Moved corrupt checkpoint step %d to %s (not deleted).", step,
                                destination)
        if jax.process_count() > 1:
            multihost_utils.sync_global_devices("vivit_corrupt_checkpoints_moved")
        self._manager.reload()
        return target

    def wait(self) -> None:
        """Blocks until every asynchronous save is complete on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()


class NoCheckpoints:
    """Stands in for Checkpointer when config.checkpoint is False (Scenic's meaning): nothing is
    restored from the workdir and nothing is saved; the run starts at step 0 every time."""

    def __init__(self, workdir: str | os.PathLike) -> None:
        self.directory = workdir_lib.checkpoint_dir(workdir)
        logging.warning("config.checkpoint=False: no checkpoint is restored from or saved to %s.",
                        self.directory)

    def restore(self, abstract_state: Any, step: int | None = None) -> None:
        return None

    def restore_newest_intact(self, abstract_state: Any) -> tuple[None, list[tuple[int, str]]]:
        return None, []

    def set_aside(self, steps: list[int]) -> None:
        del steps  # Nothing is read from the workdir, so nothing is found damaged.

    def save(self, step: int, state: Any, metrics: Mapping[str, float] | None = None,
             force: bool = False) -> bool:
        return False

    def wait(self) -> None:
        pass

    def close(self) -> None:
        pass


class PreemptionSignal:
    """Tells the training loop when to save cleanly and exit 0 because of a preemption notice.

    Single process: SIGTERM and SIGINT (Ctrl-C) set a flag that `reached(step)` reports; a
    second SIGINT kills the process at once (the default action), for a user who does not want to
    wait for the save; a step being written is then abandoned and earlier steps stay intact. Several processes
    (jax.distributed): every process must save the *same* step, so `reached(step)` uses JAX's
    preemption sync point, which hears SIGTERM on any host and picks a common step; we then
    install no handler of our own, leaving SIGTERM to JAX's. Call `reached` at every step on
    every process. (Orbax's `reached_preemption` is the same check; it is False on one host.)
    """

    def __init__(self, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
        self._event = threading.Event()
        self._multi_process = jax.process_count() > 1
        self._previous = {}
        if not self._multi_process:
            self._previous = {sig: signal.signal(sig, self._handle) for sig in signals}

    def _handle(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT:
            # The next Ctrl-C interrupts at once instead of waiting for the save.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            logging.warning("Interrupted (Ctrl-C): saving a checkpoint, then exiting; press "
                            "Ctrl-C again to stop at once without saving.")
        else:
            logging.warning("Received signal %d: saving a checkpoint, then exiting.", signum)
        self._event.set()

    def reached(self, step: int) -> bool:
        """True when the loop should save `step` now and exit."""
        if self._multi_process:
            return multihost_utils.reached_preemption_sync_point(step)
        return self._event.is_set()

    def restore_handlers(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
