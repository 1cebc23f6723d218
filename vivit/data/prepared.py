"""The files `python -m vivit.data.prepare` writes beside its shards, named once for the tool
that writes them and the readers (`tfrecord_source`, the run record)."""

from __future__ import annotations

import hashlib

from vivit import storage

MANIFEST = "manifest.json"  # videos and frames per shard and split, skipped files
LABEL_MAP = "label_map.txt"  # line i names class i


def manifest_sha256(base_dir: str) -> str | None:
    """The SHA-256 of the prepared data's manifest, which names every shard and its counts: the
    data's fingerprint in a run's record. None for data without one (Scenic/DMVR shards)."""
    path = storage.join(base_dir, MANIFEST)
    if not storage.isfile(path):
        return None
    return hashlib.sha256(storage.read_bytes(path)).hexdigest()
