"""Reads annotation files into (video file, label, split, segment) entries for `prepare`.

Formats, detected from the file:
- Kinetics CSV with header `label,youtube_id,time_start,time_end,split[,is_cc]`: the video file
  is `<youtube_id>*` in the videos folder (downloads are named `<id>.mp4` or
  `<id>_<start>_<end>.mp4`); the segment is trimmed only when the file is longer than time_end.
- `path,label[,split]` CSV (split defaults to train), paths relative to the videos folder. A
  first row that names no existing file and whose fields all look like column names
  (`path,label`, `file,class,split`: letters, digits, `_`, `-`, no `.`) is a header.
- Something-Something v2 JSON: a list of {"id", "template" or "label"}; files `<id>.webm`; the
  label is the template without brackets; the split comes from `--split`.

Parsing is strict, because a wrong row silently becomes a wrong class or a wrong split file:
every row must have the format's number of fields (a label holding a comma must be quoted),
times must be numbers, split names must be plain words; labels with surrounding spaces are
stripped with a warning. A video listed twice with the same label and split is kept once (with a
warning); listed with two labels or splits, it is an error. Errors are `AnnotationError`s naming
the file and line.
"""

from __future__ import annotations

import bisect
import csv
import dataclasses
import io
import json
import math
import os
import re
import sys
from typing import Callable, Sequence

from vivit import storage

Warn = Callable[[str], None]

KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end", "split")
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_COLUMN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ -]*$")


class AnnotationError(ValueError):
    """A line of an annotation file that cannot be read as the format it claims to be."""


@dataclasses.dataclass(frozen=True)
class Entry:
    video: str  # path of the video file (may not exist: then it is reported as skipped)
    label: str
    split: str
    start_seconds: float | None = None
    end_seconds: float | None = None
    line: int = dataclasses.field(default=0, compare=False)  # where the file lists it


def _warn_to_stderr(message: str) -> None:
    print(f"prepare: warning: {message}", file=sys.stderr)


def normalize_path(path: str) -> str:
    """An absolute, normalized local path (so 'videos', './videos/' and '/abs/videos' agree);
    URLs (gs://...) are left as they are."""
    return path if storage.is_url(path) else os.path.abspath(os.path.expanduser(path))


def _join(videos_dir: str, relative: str) -> str:
    joined = storage.join(videos_dir, relative)
    return joined if storage.is_url(joined) else os.path.normpath(joined)


def _label(raw: str, where: str, warn: Warn) -> str:
    label = raw.strip()
    if not label:
        raise AnnotationError(f"{where}: empty label.")
    if label != raw:
        warn(f"{where}: label {raw!r} has surrounding spaces; using {label!r}.")
    return label


def _split(raw: str, where: str, default: str, hint: str = "") -> str:
    if raw == "":
        return default
    if not _SPLIT_NAME.match(raw):
        raise AnnotationError(
            f"{where}: split {raw!r} is not a plain name (letters, digits, '_', '-'; it names "
            f"the output files){hint}.")
    return raw


def _rows(text: str, source: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank CSV row."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                rows.append((reader.line_num, fields))
    except csv.Error as error:
        raise AnnotationError(f"{source}, line {reader.line_num}: {error}.") from error
    return rows


class _KineticsFiles:
    """Finds `<youtube_id>*` in the videos folder from one listing (not one glob per row)."""

    def __init__(self, videos_dir: str):
        self._dir = videos_dir
        self._names = sorted(storage.listdir(videos_dir)) if storage.isdir(videos_dir) else []

    def find(self, video_id: str) -> str:
        index = bisect.bisect_left(self._names, video_id)
        while index < len(self._names) and self._names[index].startswith(video_id):
            # `<id>.mp4` or `<id>_<start>_<end>.mp4`, not the file of a longer id.
            if self._names[index][len(video_id):][:1] in (".", "_"):
                return storage.join(self._dir, self._names[index])
            index += 1
        return storage.join(self._dir, video_id + ".mp4")


def _seconds(row: dict[str, str], key: str, where: str) -> float:
    value = row[key].strip()
    try:
        seconds = float(value)
    except ValueError:
        raise AnnotationError(
            f"{where}: {key}={row[key]!r} is not a number of seconds.") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise AnnotationError(f"{where}: {key}={row[key]!r} must be a number >= 0.")
    return seconds


def _kinetics(rows: list[tuple[int, list[str]]], videos_dir: str, source: str,
              warn: Warn) -> list[Entry]:
    (_, header), *data = rows
    columns = [h.strip() for h in header]
    files = _KineticsFiles(videos_dir)
    entries = []
    for number, fields in data:
        where = f"{source}, line {number}"
        if len(fields) != len(columns):
            raise AnnotationError(
                f"{where}: {len(fields)} fields where the header has {len(columns)} "
                f"({','.join(columns)}); quote a label that contains a comma.")
        row = dict(zip(columns, fields))
        video_id = row["youtube_id"].strip()
        if not video_id:
            raise AnnotationError(f"{where}: empty youtube_id.")
        start, end = _seconds(row, "time_start", where), _seconds(row, "time_end", where)
        if end <= start:
            raise AnnotationError(
                f"{where}: time_end={row['time_end']!r} must be after time_start="
                f"{row['time_start']!r}.")
        entries.append(Entry(
            video=files.find(video_id), label=_label(row["label"], where, warn),
            split=_split(row.get("split", "").strip(), where, "train"),
            start_seconds=start, end_seconds=end, line=number))
    return entries


def _looks_like_header(fields: list[str], videos_dir: str) -> bool:
    first = fields[0].strip()
    return (
        not storage.exists(storage.join(videos_dir, first))
        and all(_COLUMN_NAME.match(f.strip()) and "." not in f for f in fields)
    )


def _path_label(rows: list[tuple[int, list[str]]], videos_dir: str, source: str,
                warn: Warn) -> list[Entry]:
    if rows and _looks_like_header(rows[0][1], videos_dir):
        (_, header), *rows = rows
        if len(header) not in (2, 3):
            raise AnnotationError(
                f"{source}, line 1: header {','.join(header)!r} has {len(header)} columns; "
                "expected path,label or path,label,split.")
        expected = len(header)
    else:
        counts = [len(fields) for _, fields in rows]
        # Without a header, the file's usual field count is the format; 2 or 3 only.
        expected = max(set(counts), key=counts.count) if counts else 2
        expected = expected if expected in (2, 3) else 2
    columns = "path,label" if expected == 2 else "path,label,split"
    entries = []
    for number, fields in rows:
        where = f"{source}, line {number}"
        if len(fields) != expected:
            raise AnnotationError(
                f"{where}: {len(fields)} fields {fields} where this file has {expected} "
                f"({columns}); quote a label that contains a comma, e.g. "
                f'v.mp4,"playing guitar, loudly".')
        path = fields[0]
        if not path.strip():
            raise AnnotationError(f"{where}: empty path.")
        if path != path.strip():
            raise AnnotationError(
                f"{where}: path {path!r} has surrounding spaces; remove them (or rename the "
                "file).")
        split = fields[2] if expected == 3 else ""
        hint = "; if the label contains a comma, quote it" if split[:1].isspace() else ""
        entries.append(Entry(
            video=_join(videos_dir, path), label=_label(fields[1], where, warn),
            split=_split(split, where, "train", hint), line=number))
    return entries


def _ssv2(text: str, videos_dir: str, split: str, source: str, warn: Warn) -> list[Entry]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise AnnotationError(
            f"{source}, line {error.lineno}: not valid JSON ({error.msg}).") from None
    if not isinstance(items, list):
        raise AnnotationError(f"{source}: expected a JSON list of {{'id', 'template'}} items.")
    split = _split(split, f"{source} (--split)", "train")
    entries = []
    for number, item in enumerate(items):
        where = f"{source}, item {number}"
        label = item.get("template", item.get("label")) if isinstance(item, dict) else None
        if not isinstance(label, str) or "id" not in item:
            raise AnnotationError(f"{where}: needs 'id' and 'template' (or 'label'), got {item!r}.")
        label = _label(label.replace("[", "").replace("]", ""), where, warn)
        entries.append(Entry(storage.join(videos_dir, f"{item['id']}.webm"), label, split,
                             line=number))
    return entries


def _deduplicated(entries: Sequence[Entry], source: str, warn: Warn) -> list[Entry]:
    """Drops exact repeats (warning); a video listed with two labels or splits is an error."""
    unit = "item" if source.endswith(".json") else "line"
    first: dict[tuple, Entry] = {}
    kept = []
    for entry in entries:
        key = (entry.video, entry.start_seconds, entry.end_seconds)
        seen = first.get(key)
        if seen is None:
            first[key] = entry
            kept.append(entry)
        elif (seen.label, seen.split) == (entry.label, entry.split):
            warn(f"{source}, {unit} {entry.line}: {entry.video} is listed again (first at {unit} "
                 f"{seen.line}); converted once.")
        else:
            raise AnnotationError(
                f"{source}, {unit} {entry.line}: {entry.video} is listed as "
                f"{entry.label!r} ({entry.split}) but {unit} {seen.line} lists it as "
                f"{seen.label!r} ({seen.split}); one video needs one label and split.")
    return kept


def read_annotations(path: str, videos_dir: str, default_split: str = "train",
                     warn: Warn = _warn_to_stderr) -> list[Entry]:
    """Entries of an annotation file (format detected from its content), video paths absolute.

    Raises FileNotFoundError for a missing file, AnnotationError (a ValueError) naming the file
    and line for a row that does not fit the format; `warn` receives what was fixed up.
    """
    if not storage.isfile(path):
        raise FileNotFoundError(f"--annotations={path!r} is not a file.")
    videos_dir = normalize_path(videos_dir)
    try:
        text = storage.read_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AnnotationError(f"{path}: not UTF-8 text ({error}).") from None
    if path.endswith(".json") or text.lstrip().startswith("["):
        entries = _ssv2(text, videos_dir, default_split, path, warn)
    else:
        rows = _rows(text, path)
        header = {h.strip() for h in rows[0][1]} if rows else set()
        if set(KINETICS_COLUMNS[:4]) <= header:
            entries = _kinetics(rows, videos_dir, path, warn)
        else:
            entries = _path_label(rows, videos_dir, path, warn)
    return _deduplicated(entries, path, warn)
