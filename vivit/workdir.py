"""A run's workdir: the one place that knows what it holds and what each file is called.

    <workdir>/config.json            the completed config the run started with
    <workdir>/config.resumed_N.json  a differing config a later resume ran with
    <workdir>/label_names.json       a name per class, so predicting needs no dataset
    <workdir>/run.json               each start of training: its step, time, the data it read
                                     and the code's versions (vivit.provenance)
    <workdir>/checkpoints/<step>/    Orbax steps of the train state (vivit.train.checkpointing)
    <workdir>/corrupt_checkpoints/   damaged steps moved aside on resume (never deleted)
    <workdir>/events.out.tfevents.*  TensorBoard summaries (vivit.train.summaries)
    <workdir>/vivit.lock             held while a training job runs (vivit.train.workdir_lock)
    <workdir>/result.json, main.log  a sweep's finished marker and the run's log (vivit.sweep)

Every path may be local or a gs:// URL: reads and listings go through `vivit.storage`, never
`os.path`, so a bucket workdir lists the same steps as a local one. Writers are called by
process 0 of a job only.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import socket
from typing import Any, Mapping, Sequence

import ml_collections
from etils import epath
from flax import traverse_util

from vivit import storage

CONFIG_FILE = "config.json"
LABEL_NAMES_FILE = "label_names.json"
RECORD_FILE = "run.json"
CHECKPOINT_DIR = "checkpoints"
# Steps found corrupt when training resumes are moved here (never deleted), so that the step
# numbers are free for the resumed run's own saves.
CORRUPT_DIR = "corrupt_checkpoints"
LOCK_FILE = "vivit.lock"
RESULT_FILE = "result.json"
LOG_FILE = "main.log"
_RESUMED_CONFIG = "config.resumed_{index}.json"
# How far above a checkpoint path its run may be: <run>/checkpoints/<step>/<item>.
_LEVELS_BELOW_RUN = 3


class RunFileError(ValueError):
    """A file of the workdir exists but does not hold what training writes there."""


def resolve(workdir: str | os.PathLike) -> epath.Path:
    """The workdir as a path: a gs:// URL kept as it is, a local path made absolute."""
    return storage.resolve(workdir)


def checkpoint_dir(workdir: str | os.PathLike) -> epath.Path:
    """Where the run's Orbax steps are."""
    return resolve(workdir) / CHECKPOINT_DIR


def corrupt_dir(workdir: str | os.PathLike) -> epath.Path:
    """Where damaged steps are moved aside."""
    return resolve(workdir) / CORRUPT_DIR


def tensorboard_dir(workdir: str | os.PathLike) -> epath.Path:
    """Where the run's TensorBoard event files are (the workdir itself, as in Scenic)."""
    return resolve(workdir)


def ensure_writable(workdir: str | os.PathLike) -> epath.Path:
    """Creates the workdir if needed; raises PermissionError naming it when it cannot be
    written. Returns it resolved."""
    path = resolve(workdir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write_test_{socket.gethostname()}_{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise PermissionError(f"Workdir '{path}' is not writable: {error}") from error
    return path


def finished_steps(path: str | os.PathLike) -> list[int]:
    """The completely written checkpoint steps, oldest first, of a workdir or of its
    checkpoints/ folder (local or gs://); see `steps_in`."""
    candidate = checkpoint_dir(path)
    return steps_in(candidate if candidate.is_dir() else path)


def steps_in(folder: str | os.PathLike) -> list[int]:
    """The completely written Orbax steps directly in `folder`, oldest first. A step still being
    written (a temporary folder locally; on a bucket, no commit marker yet) is not listed, and
    nothing is read but names and markers."""
    import orbax.checkpoint as ocp  # Imported only when steps are listed (it is slow).

    root = os.fspath(resolve(folder))
    if not storage.isdir(root):
        return []
    return sorted(int(name) for name in storage.listdir(root)
                  if name.isdigit() and storage.isdir(storage.join(root, name))
                  and ocp.utils.is_checkpoint_finalized(resolve(storage.join(root, name))))


def is_run(path: str | os.PathLike) -> bool:
    """Whether `path` is a training workdir: it holds config.json and a checkpoints/ folder."""
    root = os.fspath(resolve(path))
    return (storage.isfile(storage.join(root, CONFIG_FILE))
            and storage.isdir(storage.join(root, CHECKPOINT_DIR)))


def find_run(path: str | os.PathLike) -> str | None:
    """The workdir a path belongs to: the path itself, or the run above one of its checkpoint
    folders (checkpoints/, a step, an item of a step); None when it is in no run."""
    current = os.fspath(resolve(path))
    for _ in range(_LEVELS_BELOW_RUN + 1):
        if is_run(current):
            return current
        current = storage.dirname(current)
    return None


def _read_json(path: str) -> Any:
    try:
        return json.loads(storage.read_text(path))
    except ValueError as error:
        raise RunFileError(f"'{path}' is not valid JSON ({error}).") from None


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """'key: old -> new' for every key whose value differs between two config dicts."""
    old_flat = traverse_util.flatten_dict(dict(old), sep=".")
    new_flat = traverse_util.flatten_dict(dict(new), sep=".")
    keys = sorted(set(old_flat) | set(new_flat))
    return [
        f"{key}: {old_flat.get(key, '<absent>')!r} -> {new_flat.get(key, '<absent>')!r}"
        for key in keys
        if old_flat.get(key, "<absent>") != new_flat.get(key, "<absent>")
    ]


def write_config(workdir: str | os.PathLike, config: ml_collections.ConfigDict) -> list[str]:
    """Writes config.json on a run's first start; on a resume compares and warns.

    The original config.json is never overwritten: a differing config is saved as
    config.resumed_<n>.json. Returns the differences ('key: old -> new').
    """
    path = resolve(workdir) / CONFIG_FILE
    current = json.loads(config.to_json_best_effort(sort_keys=True))
    if not path.exists():
        path.write_text(json.dumps(current, indent=2, sort_keys=True))
        return []
    differences = config_differences(json.loads(path.read_text()), current)
    if differences:
        index = 1
        while (path.parent / _RESUMED_CONFIG.format(index=index)).exists():
            index += 1
        target = path.parent / _RESUMED_CONFIG.format(index=index)
        target.write_text(json.dumps(current, indent=2, sort_keys=True))
        logging.warning(
            "The config differs from the one this workdir was started with (%s); resuming "
            "anyway. Differences: %s. The new config is saved as %s.",
            path, "; ".join(differences), target.name,
        )
    return differences


def read_config_values(workdir: str | os.PathLike) -> dict[str, Any]:
    """The config the run started with, as the JSON object training wrote (not completed:
    `vivit.config.complete` gives it the keys of this version's defaults)."""
    path = os.fspath(resolve(workdir) / CONFIG_FILE)
    if not storage.isfile(path):
        raise FileNotFoundError(f"'{workdir}' has no {CONFIG_FILE}: it is not a training workdir "
                                "(or training never started there).")
    values = _read_json(path)
    if not isinstance(values, dict):
        raise RunFileError(f"'{path}' does not hold a config (a JSON object).")
    return values


def write_label_names(workdir: str | os.PathLike, names: Sequence[str] | None) -> None:
    """Keeps the class names beside the checkpoints (nothing is written without names)."""
    if names:
        (resolve(workdir) / LABEL_NAMES_FILE).write_text(json.dumps(list(names), indent=1))


def read_label_names(workdir: str | os.PathLike) -> list[str] | None:
    """The class names training saved, or None when it saved none."""
    path = os.fspath(resolve(workdir) / LABEL_NAMES_FILE)
    if not storage.isfile(path):
        return None
    names = _read_json(path)
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise RunFileError(f"'{path}' must hold a JSON list of class names.")
    return names


def write_record(workdir: str | os.PathLike, *, step: int, data: Mapping[str, Any],
                 versions: Mapping[str, Any]) -> dict[str, Any]:
    """Adds this start of training (from `step`) to run.json: when, the data it reads and the
    versions of the code; earlier starts are kept. Returns the whole record."""
    path = resolve(workdir) / RECORD_FILE
    record = read_record(workdir) or {"starts": []}
    record["starts"].append({
        "step": int(step),
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data": dict(data), "versions": dict(versions)})
    path.write_text(json.dumps(record, indent=1, sort_keys=True))
    return record


def read_record(workdir: str | os.PathLike) -> dict[str, Any] | None:
    """run.json ({'starts': [...], oldest first}), or None for a run that has none (trained
    before it was written)."""
    path = os.fspath(resolve(workdir) / RECORD_FILE)
    if not storage.isfile(path):
        return None
    record = _read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("starts"), list):
        raise RunFileError(f"'{path}' does not hold a run record ({{'starts': [...]}}).")
    return record
