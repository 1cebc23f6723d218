"""Converts a folder of videos plus an annotation file into sharded DMVR-layout TFRecords.

    python -m vivit.data.prepare --videos=DIR --annotations=FILE --out=DIR [--verify]

Writes `<split>.tfrecord-0000i-of-0000N` (read with `dataset_configs.tables.<split> =
'<split>.tfrecord@N'`; `--format=array_record` writes the same records to ArrayRecord files),
`label_map.txt` (line i = class i) and `manifest.json` (videos and frames
per split, every skipped video with its reason). Each shard is written under a temporary name
and renamed when complete, with a per-shard summary `<shard>.json` renamed just before it, so a
killed run leaves only whole shards; running again converts only the missing ones. `--verify`
recounts the written records and frames against the manifest.

`--out` may be a bucket (gs://...): each shard is written to a local temporary file and uploaded
when complete (an object appears only once its upload finishes), through fsspec (`vivit.storage`).
`--videos` and `--annotations` may be in a bucket too: each file is copied to a local temporary
file to be read, then deleted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import math
import multiprocessing
import os
import sys
from typing import Any

from vivit import storage
from vivit.data.annotations import Entry, read_annotations

MANIFEST = "manifest.json"
LABEL_MAP = "label_map.txt"
PLAN = "prepare_plan.json"


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
            payload = example.SerializeToString()
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


def _check_same_plan(out: str, fingerprint: str) -> None:
    path = storage.join(out, PLAN)
    if storage.exists(path):
        previous = json.loads(storage.read_text(path))["fingerprint"]
        if previous != fingerprint:
            raise SystemExit(
                f"{out} holds shards made from other annotations or options ({path}); "
                "use a new --out directory (nothing was changed)."
            )
    else:
        _write_atomically(path, json.dumps({"fingerprint": fingerprint}))


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    with storage.local_copy(args.annotations) as annotations:
        entries = read_annotations(annotations, args.videos, args.split)
    if not entries:
        raise SystemExit(f"--annotations={args.annotations}: no videos listed.")
    labels = sorted({e.label for e in entries})
    label_index = {label: i for i, label in enumerate(labels)}
    plan = plan_shards(entries, args.videos_per_shard)
    options = {"min_resize": args.min_resize, "jpeg_quality": args.jpeg_quality,
               "min_frames": args.min_frames, "format": args.format}
    fingerprint = hashlib.sha256(
        json.dumps([[vars(e) for e in entries], options, args.videos_per_shard]).encode()
    ).hexdigest()
    if args.format == "array_record":
        from vivit.data.tfrecord_source import check_array_record_is_local

        try:
            check_array_record_is_local(args.out)
        except ValueError as error:
            raise SystemExit(f"--out: {error}") from None
    storage.makedirs(args.out)
    _check_same_plan(args.out, fingerprint)
    _write_atomically(storage.join(args.out, LABEL_MAP), "".join(f"{l}\n" for l in labels))
    for name in storage.listdir(args.out):  # leftovers of a killed run
        if ".tmp-" in name:
            storage.remove(storage.join(args.out, name))

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
    with concurrent.futures.ProcessPoolExecutor(max(1, args.workers), mp_context=context) as pool:
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

    manifest = json.loads(storage.read_text(storage.join(out, MANIFEST)))
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


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m vivit.data.prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", help="folder of video files (mp4, webm, avi, mkv)")
    parser.add_argument("--annotations", help="Kinetics CSV, path,label CSV or SSv2 JSON")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--split", default="train", help="split of SSv2 JSON entries")
    parser.add_argument("--min_resize", type=int, default=256, help="shorter side, pixels")
    parser.add_argument("--videos_per_shard", type=int, default=100)
    parser.add_argument("--min_frames", type=int, default=1,
                        help="videos with fewer decoded frames are skipped")
    parser.add_argument("--jpeg_quality", type=int, default=90)
    parser.add_argument("--format", choices=("tfrecord", "array_record"), default="tfrecord",
                        help="tfrecord (what Scenic reads) or array_record (random access)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--verify", action="store_true",
                        help="after converting (or alone, without --videos), recount the output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.verify and not (args.videos and args.annotations):
        parser.error("--videos and --annotations are required unless only --verify is given")
    if args.videos and not storage.isdir(args.videos):
        parser.error(f"--videos={args.videos!r} is not a directory")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.videos and args.annotations:
        manifest = prepare(args)
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
