"""Reads annotation files into (video file, label, split, segment) entries for `prepare`.

Formats, detected from the file:
- Kinetics CSV with header `label,youtube_id,time_start,time_end,split`: the video file is
  `<youtube_id>*` in the videos folder (downloads are named `<id>.mp4` or
  `<id>_<start>_<end>.mp4`); the segment is trimmed only when the file is longer than time_end.
- `path,label` CSV (optional third column `split`, default train), paths relative to the videos
  folder.
- Something-Something v2 JSON: a list of {"id", "template" or "label"}; files `<id>.webm`; the
  label is the template without brackets; the split comes from `--split`.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import json
import os


@dataclasses.dataclass(frozen=True)
class Entry:
    video: str  # path of the video file (may not exist: then it is reported as skipped)
    label: str
    split: str
    start_seconds: float | None = None
    end_seconds: float | None = None


def _kinetics(rows: list[dict], videos_dir: str) -> list[Entry]:
    entries = []
    for row in rows:
        video_id = row["youtube_id"]
        matches = sorted(glob.glob(os.path.join(videos_dir, glob.escape(video_id) + "*")))
        entries.append(
            Entry(
                video=matches[0] if matches else os.path.join(videos_dir, video_id + ".mp4"),
                label=row["label"],
                split=row.get("split") or "train",
                start_seconds=float(row["time_start"]),
                end_seconds=float(row["time_end"]),
            )
        )
    return entries


def _path_label(rows: list[list[str]], videos_dir: str, source: str) -> list[Entry]:
    entries = []
    for number, row in enumerate(rows, start=1):
        if not row or row == ["path", "label"] or row[:2] == ["path", "label"]:
            continue
        if len(row) < 2:
            raise ValueError(f"{source}, line {number}: expected 'path,label[,split]', got {row}.")
        split = row[2] if len(row) > 2 and row[2] else "train"
        entries.append(Entry(os.path.join(videos_dir, row[0]), row[1], split))
    return entries


def _ssv2(items: list[dict], videos_dir: str, split: str, source: str) -> list[Entry]:
    entries = []
    for number, item in enumerate(items):
        label = item.get("template", item.get("label"))
        if "id" not in item or label is None:
            raise ValueError(f"{source}, item {number}: needs 'id' and 'template' (or 'label').")
        label = label.replace("[", "").replace("]", "")
        entries.append(Entry(os.path.join(videos_dir, f"{item['id']}.webm"), label, split))
    return entries


def read_annotations(path: str, videos_dir: str, default_split: str = "train") -> list[Entry]:
    """Entries of an annotation file (format detected from its content)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--annotations={path!r} is not a file.")
    with open(path, newline="") as f:
        text = f.read()
    if path.endswith(".json") or text.lstrip().startswith("["):
        return _ssv2(json.loads(text), videos_dir, default_split, path)
    lines = text.splitlines()
    header = [h.strip() for h in next(csv.reader(lines[:1]), [])]
    if {"label", "youtube_id", "time_start", "time_end"} <= set(header):
        return _kinetics(list(csv.DictReader(lines)), videos_dir)
    return _path_label(list(csv.reader(lines)), videos_dir, path)
