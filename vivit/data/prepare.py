"""Converts a folder of videos plus an annotation file into sharded DMVR-layout TFRecords.

    python -m vivit.data.prepare --videos=DIR --annotations=FILE --out=DIR [--verify]

Writes `<split>.tfrecord-0000i-of-0000N` (read with `dataset_configs.tables.<split> =
'<split>.tfrecord@N'`; `--format=array_record` writes the same records to ArrayRecord files),
`label_map.txt` (line i = class i) and `manifest.json` (videos and frames
per split, every skipped video with its reason). Each shard is written under a temporary name
and renamed when complete, with a per-shard summary `<shard>.json` renamed just before it, so a
killed run leaves only whole shards; running again converts only the missing ones. `--verify`
recounts the written records and frames against the manifest.

Bad input (an annotation row that does not fit its format, an option out of range, an `--out`
holding someone else's shards) stops the run before anything is written, with one line
`prepare: error: ...` naming the file, line or option.

`--out` may be a bucket (gs://...): each shard is written to a local temporary file and uploaded
when complete (an object appears only once its upload finishes), through fsspec (`vivit.storage`).
`--videos` and `--annotations` may be in a bucket too (each video is copied to a local temporary
file to be decoded, then deleted).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import hashlib
import json
import math
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
import types
from typing import Any, NoReturn

from absl import flags

from vivit import storage
from vivit.cli import fail, flag_dict, parse_flags
from vivit.processes import pid_alive
from vivit.data.annotations import Entry, normalize_path, read_annotations
from vivit.data.prepared import LABEL_MAP, MANIFEST

PROG = "prepare"
PLAN = "prepare_plan.json"
_SHARD_FILE = re.compile(r"\.(tfrecord|array_record)-\d{5}-of-\d{5}")
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_main_pid: int | None = None  # set in pool workers: the process that started the pool


def _stop_with_main_process(main_pid: int) -> None:
    """Pool-worker initializer: the worker exits when the main process dies (even by SIGKILL,
    which no handler sees), instead of converting on for nobody and racing a rerun.

    A thread checks ten times a second that the main process and the worker's parent are still
    there; on Linux the kernel also sends SIGKILL when the parent (the forkserver, which exits
    when the main process goes) dies.
    """
    global _main_pid
    _main_pid = main_pid
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass  # no prctl: the thread below still stops the worker

    def watch() -> None:
        while True:
            if os.getppid() != parent or not pid_alive(main_pid):
                os._exit(1)
            time.sleep(0.1)

    threading.Thread(target=watch, name="stop-with-main-process", daemon=True).start()


def _write_atomically(path: str, text: str) -> None:
    storage.write_text_atomically(path, text)


def shard_name(split: str, index: int, count: int, file_format: str = "tfrecord") -> str:
    return f"{split}.{file_format}-{index:05d}-of-{count:05d}"


class _ArrayRecordWriter:
    """ArrayRecord writer with TFRecordWriter's context-manager interface."""

    def __init__(self, path: str):
        from array_record.python import array_record_module

        # group_size:1 makes every record individually addressable without reading neighbours.
        self._writer = array_record_module.ArrayRecordWriter(path, "group_size:1")

    def __enter__(self):
        return self

    def write(self, record: bytes) -> None:
        self._writer.write(record)

    def __exit__(self, *exc_info):
        self._writer.close()


def _open_writer(path: str, file_format: str):
    if file_format == "array_record":
        return _ArrayRecordWriter(path)
    import tensorflow as tf

    return tf.io.TFRecordWriter(path)


def _sequence_example(jpegs: list[bytes], label_index: int, label: str, media_id: str):
    from tensorflow.core.example import example_pb2

    example = example_pb2.SequenceExample()
    context = example.context.feature
    context["clip/label/index"].int64_list.value.append(label_index)
    context["clip/label/string"].bytes_list.value.append(label.encode())
    context["clip/media_id"].bytes_list.value.append(media_id.encode())
    frames = example.feature_lists.feature_list["image/encoded"]
    for jpeg in jpegs:
        frames.feature.add().bytes_list.value.append(jpeg)
    return example


def convert_shard(
    entries: list[Entry], label_index: dict[str, int], out_path: str, options: dict[str, Any]
) -> dict[str, Any]:
    """Writes one shard (temporary name, then rename) and returns its summary."""
    from vivit.data.video_decode import decode_to_jpegs

    if _main_pid is not None and not pid_alive(_main_pid):
        os._exit(1)  # a queued shard of a killed run: leave it to the rerun
    # records: (payload offset, length) of each TFRecord, so readers of a bucket need not scan.
    summary = {"shard": storage.basename(out_path), "videos": 0, "frames": 0, "skipped": [],
               "records": []}
    position = 0
    temporary = storage.staging_path(out_path)
    with _open_writer(temporary, options["format"]) as writer:
        for entry in entries:
            try:
                with storage.local_copy(entry.video) as video:
                    jpegs = decode_to_jpegs(
                        video, min_resize=options["min_resize"],
                        start_seconds=entry.start_seconds, end_seconds=entry.end_seconds,
                        jpeg_quality=options["jpeg_quality"],
                    )
            except FileNotFoundError:
                summary["skipped"].append({"video": entry.video, "reason": "file not found"})
                continue
            except Exception as error:  # PyAV raises many FFmpegError subclasses; report all.
                reason = f"cannot decode: {type(error).__name__}: {error}"
                summary["skipped"].append({"video": entry.video, "reason": reason})
                continue
            if len(jpegs) < options["min_frames"]:
                reason = f"too short: {len(jpegs)} frames < --min_frames={options['min_frames']}"
                summary["skipped"].append({"video": entry.video, "reason": reason})
                continue
            media_id = os.path.splitext(os.path.basename(entry.video))[0]
            example = _sequence_example(jpegs, label_index[entry.label], entry.label, media_id)
            payload = example.SerializeToString(deterministic=True)
            writer.write(payload)
            summary["records"].append([position + 12, len(payload)])  # 12: length + its crc.
            position += 12 + len(payload) + 4
            summary["videos"] += 1
            summary["frames"] += len(jpegs)
    _write_atomically(f"{out_path}.json", json.dumps(summary))
    storage.publish(temporary, out_path)
    return summary


def plan_shards(entries: list[Entry], videos_per_shard: int) -> dict[str, list[list[Entry]]]:
    """Split -> shards (lists of entries), deterministic in the annotation content."""
    by_split: dict[str, list[Entry]] = {}
    for entry in sorted(entries, key=lambda e: (e.split, e.video, e.label)):
        by_split.setdefault(entry.split, []).append(entry)
    plan = {}
    for split, split_entries in by_split.items():
        count = math.ceil(len(split_entries) / videos_per_shard)
        plan[split] = [split_entries[i::count] for i in range(count)]
    return plan


def _fail(message: str) -> NoReturn:
    raise SystemExit(f"{PROG}: error: {message}")


def _check_same_plan(out: str, fingerprint: str) -> None:
    """Claims `out` for this plan, or stops if it holds another run's output."""
    path = storage.join(out, PLAN)
    if storage.exists(path):
        try:
            previous = json.loads(storage.read_text(path))["fingerprint"]
        except (ValueError, KeyError, TypeError):
            previous = None
        if previous != fingerprint:
            _fail(f"--out={out} holds shards made from other annotations or options ({path}); "
                  "use a new --out directory (nothing was changed).")
        return
    if storage.isdir(out):
        theirs = sorted(name for name in storage.listdir(out)
                        if _SHARD_FILE.search(name) or name in (MANIFEST, LABEL_MAP))
        if theirs:
            _fail(f"--out={out} already holds {theirs[0]} (and {len(theirs) - 1} more) but no "
                  f"{PLAN}: it is not this tool's output for these annotations; use a new "
                  "--out directory (nothing was changed).")
    storage.makedirs(out)
    _write_atomically(path, json.dumps({"fingerprint": fingerprint}))


def _fingerprint(entries: list[Entry], videos: str, options: dict[str, Any],
                 videos_per_shard: int) -> str:
    """Depends on what is converted (videos relative to --videos, labels, options), not on the
    working directory or on how --videos was spelt."""
    listed = [[os.path.relpath(e.video, videos) if "://" not in e.video else e.video,
               e.label, e.split, e.start_seconds, e.end_seconds] for e in entries]
    return hashlib.sha256(json.dumps([listed, options, videos_per_shard]).encode()).hexdigest()


def _remove_leftovers(out: str, wait_seconds: float = 3.0) -> None:
    """Deletes the temporary files of a killed run, after giving its workers (which stop within
    a fraction of a second of their main process) time to go."""
    leftovers = [name for name in storage.listdir(out) if ".tmp-" in name]
    writers = {int(pid) for pid in (name.rsplit(".tmp-", 1)[1] for name in leftovers)
               if pid.isdigit() and int(pid) != os.getpid()}
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline and any(pid_alive(pid) for pid in writers):
        time.sleep(0.05)
    for name in storage.listdir(out):
        if ".tmp-" in name:
            try:
                storage.remove(storage.join(out, name))
            except FileNotFoundError:
                pass


def prepare(args: types.SimpleNamespace) -> dict[str, Any]:
    try:
        entries = read_annotations(args.annotations, args.videos, args.split)
    except (ValueError, OSError) as error:
        _fail(str(error))
    if not entries:
        _fail(f"--annotations={args.annotations}: no videos listed.")
    labels = sorted({e.label for e in entries})
    label_index = {label: i for i, label in enumerate(labels)}
    plan = plan_shards(entries, args.videos_per_shard)
    options = {"min_resize": args.min_resize, "jpeg_quality": args.jpeg_quality,
               "min_frames": args.min_frames, "format": args.format}
    fingerprint = _fingerprint(entries, args.videos, options, args.videos_per_shard)
    _check_same_plan(args.out, fingerprint)
    _write_atomically(storage.join(args.out, LABEL_MAP), "".join(f"{l}\n" for l in labels))
    _remove_leftovers(args.out)

    jobs = []
    for split, shards in plan.items():
        for index, shard in enumerate(shards):
            path = storage.join(args.out, shard_name(split, index, len(shards), args.format))
            if not storage.exists(path):
                jobs.append((shard, path))
    from tqdm import tqdm

    # forkserver: workers start from a clean process, never from a fork of a multithreaded
    # parent (JAX, TensorFlow), which can deadlock.
    context = multiprocessing.get_context("forkserver")
    with concurrent.futures.ProcessPoolExecutor(
            args.workers, mp_context=context, initializer=_stop_with_main_process,
            initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(convert_shard, s, label_index, p, options) for s, p in jobs]
        for future in tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                           desc="shards", disable=args.quiet):
            future.result()
    manifest = _manifest(args.out, plan, args.format)
    _write_atomically(storage.join(args.out, MANIFEST), json.dumps(manifest, indent=1))
    return manifest


def _manifest(out: str, plan: dict[str, list[list[Entry]]], file_format: str) -> dict[str, Any]:
    manifest: dict[str, Any] = {"format": file_format, "splits": {}, "skipped": []}
    for split, shards in plan.items():
        counts = {"videos": 0, "frames": 0, "shards": len(shards),
                  "table": f"{split}.{file_format}@{len(shards)}", "files": {}}
        for index in range(len(shards)):
            name = shard_name(split, index, len(shards), file_format)
            summary = json.loads(storage.read_text(storage.join(out, f"{name}.json")))
            counts["videos"] += summary["videos"]
            counts["frames"] += summary["frames"]
            counts["files"][name] = {"videos": summary["videos"], "frames": summary["frames"]}
            manifest["skipped"].extend(dict(s, split=split) for s in summary["skipped"])
        manifest["splits"][split] = counts
    return manifest


def verify(out: str) -> list[str]:
    """Differences between the shards on disk and the manifest (empty list: all agree)."""
    from vivit.data.tfrecord_source import _parse, read_record, record_locations

    manifest_path = storage.join(out, MANIFEST)
    try:
        manifest = json.loads(storage.read_text(manifest_path))
    except FileNotFoundError:
        _fail(f"--out={out} holds no {MANIFEST}: nothing to verify (convert first).")
    except ValueError as error:
        return [f"{manifest_path}: unreadable: {error}"]
    problems = []
    for split, counts in manifest["splits"].items():
        for name, expected in counts["files"].items():
            path = storage.join(out, name)
            if not storage.exists(path):
                problems.append(f"{path}: missing")
                continue
            videos = frames = 0
            try:
                locations = record_locations(path, use_summary=False)
            except Exception as error:  # a damaged file is a finding, not a crash
                problems.append(f"{path}: unreadable: {error}")
                continue
            for number, (offset, length) in enumerate(locations):
                example = _parse(read_record(path, number, offset, length))
                frames += len(example.feature_lists.feature_list["image/encoded"].feature)
                videos += 1
            if (videos, frames) != (expected["videos"], expected["frames"]):
                problems.append(
                    f"{path}: {videos} videos / {frames} frames on disk, manifest says "
                    f"{expected['videos']} / {expected['frames']}"
                )
    return problems


def _define_flags() -> flags.FlagValues:
    """This tool's flags, on their own FlagValues (so main() can run many times)."""
    flag_values = flags.FlagValues()
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("videos", None, "folder of video files (mp4, webm, avi, mkv)", **define)
    flags.DEFINE_string("annotations", None, "Kinetics CSV, path,label CSV or SSv2 JSON", **define)
    flags.DEFINE_string("out", None, "output folder", **define)
    flags.mark_flag_as_required("out", flag_values=flag_values)
    flags.DEFINE_string("split", "train", "split of SSv2 JSON entries", **define)
    flags.DEFINE_integer("min_resize", 256, "shorter side, pixels", lower_bound=1, **define)
    flags.DEFINE_integer("videos_per_shard", 100, "videos per output shard", lower_bound=1,
                         **define)
    flags.DEFINE_integer("min_frames", 1, "videos with fewer decoded frames are skipped",
                         lower_bound=1, **define)
    flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality of the stored frames", lower_bound=1,
                         upper_bound=100, **define)
    flags.DEFINE_enum("format", "tfrecord", ["tfrecord", "array_record"],
                      "tfrecord (what Scenic reads) or array_record (random access)", **define)
    flags.DEFINE_integer("workers", os.cpu_count() or 1, "decoding processes", lower_bound=1,
                         **define)
    flags.DEFINE_bool("verify", False,
                      "after converting (or alone, without --videos), recount the output", **define)
    flags.DEFINE_bool("quiet", False, "no progress bar", **define)
    return flag_values


def parse_args(argv: list[str]) -> types.SimpleNamespace:
    """The flags as attributes; a bad flag or combination exits 2 with one line naming it."""
    flag_values = _define_flags()
    positional = parse_flags(flag_values, argv, PROG, "python -m vivit.data.prepare [--flags]",
                             __doc__)
    if positional:
        fail(PROG, f"unexpected argument {positional[0]!r} (every option is a --flag=VALUE)")
    args = types.SimpleNamespace(**flag_dict(flag_values))
    if not args.verify and not (args.videos and args.annotations):
        fail(PROG, "--videos and --annotations are required unless only --verify is given")
    if args.videos and not storage.isdir(args.videos):
        fail(PROG, f"--videos={args.videos!r} is not a directory")
    if args.annotations and not storage.isfile(args.annotations):
        fail(PROG, f"--annotations={args.annotations!r} is not a file")
    args.videos = normalize_path(args.videos) if args.videos else args.videos
    args.out = normalize_path(args.out)
    if storage.exists(args.out) and not storage.isdir(args.out):
        fail(PROG, f"--out={args.out!r} is a file, not a directory")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.videos and args.annotations:
        try:
            manifest = prepare(args)
        except OSError as error:  # e.g. an unwritable --out or a full disk
            _fail(f"--out={args.out}: {error}")
        for split, counts in manifest["splits"].items():
            print(f"{split}: {counts['videos']} videos, {counts['frames']} frames, "
                  f"table {counts['table']!r}")
        for skipped in manifest["skipped"]:
            print(f"skipped {skipped['video']}: {skipped['reason']}")
    if args.verify:
        problems = verify(args.out)
        for problem in problems:
            print(f"verify: {problem}")
        print("verify: OK" if not problems else f"verify: {len(problems)} problem(s)")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
