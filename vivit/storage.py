"""Paths that may be URLs: workdirs, data, checkpoints and exports on gs:// (or local disks).

On a TPU pod slice the only storage every worker shares is a bucket, so every path a user gives
may be `gs://bucket/...`. This module is the one place that knows it:

- `resolve(path)` keeps a URL intact and makes a local path absolute (`pathlib` would turn
  `gs://b/x` into `<cwd>/gs:/b/x`);
- remote files are reached through fsspec (gcsfs for gs://), which honours
  `STORAGE_EMULATOR_HOST`; `etils.epath` (what Orbax uses) is told to use fsspec too
  (`EPATH_USE_TF=false`, set at import of `vivit`), because TensorFlow's own GCS filesystem
  ignores the emulator variable and always calls the real service;
- reads from object storage in order are large buffered range reads with read-ahead
  (`read_range`, `open_for_reading`), so reading records one after another costs a few HTTP
  requests, not one per record; a random read fetches just its bytes;
- writers that only take local paths (TFRecordWriter, TensorBoard's event writer, the Hugging
  Face export) write to a local staging file that is then uploaded (`publish`, `LocalMirror`);
  an object appears in a bucket only once its upload completes, so a killed writer never leaves
  a half-written object behind. (ArrayRecord reads gs:// itself, with google-cloud-cpp; its
  writer takes local paths, so ArrayRecord shards are staged and uploaded too.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from typing import IO, TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from etils import epath

# The default for remote paths read through epath: fsspec, not TensorFlow (see the docstring).
# Must be set before etils decides on its backend, i.e. before the first epath call on gs://;
# `vivit/__init__.py` calls this at import. A value the user set explicitly is kept.
EPATH_USE_TF = "EPATH_USE_TF"
# How many bytes one remote read fetches at least (the read-ahead).
READ_BLOCK_BYTES = 16 << 20


def configure_environment() -> None:
    """epath on fsspec for gs://, and TensorStore (Orbax's array I/O) on the GCS emulator
    whenever STORAGE_EMULATOR_HOST points gcsfs at one."""
    os.environ.setdefault(EPATH_USE_TF, "false")
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator and "TENSORSTORE_GCS_HTTP_URL" not in os.environ:
        if "://" not in emulator:
            emulator = f"http://{emulator}"
        os.environ["TENSORSTORE_GCS_HTTP_URL"] = emulator
    if emulator:
        # gcsfs's default filesystem first asks a gRPC control API (absent from emulators) for
        # each bucket's type, retrying for up to a minute without credentials: use the plain one.
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    import fsspec.config

    for protocol in ("gs", "gcs"):
        settings = fsspec.config.conf.setdefault(protocol, {})
        # gcsfs caches directory listings forever by default; other processes (the other hosts
        # of a pod, a resumed run) write to the same bucket, so every listing asks the bucket.
        settings.setdefault("use_listings_cache", False)
        if emulator:  # No credentials to look for (Google's default-credential probe is slow).
            settings.setdefault("token", "anon")


def is_url(path: str | os.PathLike) -> bool:
    """True for `scheme://...` paths other than file://."""
    text = os.fspath(path)
    return "://" in text and not text.startswith("file://")


def resolve(path: str | os.PathLike) -> "epath.Path":
    """An `etils.epath.Path`: a URL as it is, a local path expanded (~) and made absolute."""
    from etils import epath

    text = os.fspath(path)
    if is_url(text):
        return epath.Path(text)
    if text.startswith("file://"):
        text = text[len("file://"):]
    return epath.Path(os.path.abspath(os.path.expanduser(text)))


def expand(path: str | os.PathLike) -> str:
    """A URL as it is, a local path with ~ expanded (relative paths stay relative)."""
    text = os.fspath(path)
    return text if is_url(text) else os.path.expanduser(text)


def join(base: str | os.PathLike, *names: str) -> str:
    """`base/name/...` as a string; URLs are joined with '/', local paths with os.path.join."""
    text = os.fspath(base)
    if is_url(text):
        return "/".join([text.rstrip("/"), *(n.strip("/") for n in names)])
    return os.path.join(text, *names)


def basename(path: str | os.PathLike) -> str:
    return os.fspath(path).rstrip("/").rsplit("/", 1)[-1]


def dirname(path: str | os.PathLike) -> str:
    text = os.fspath(path)
    return text.rstrip("/").rsplit("/", 1)[0] if is_url(text) else os.path.dirname(text)


def _filesystem(path: str):
    """(fsspec filesystem, path inside it) of a URL."""
    import fsspec

    return fsspec.core.url_to_fs(path)


def exists(path: str | os.PathLike) -> bool:
    return resolve(path).exists() if is_url(path) else os.path.exists(expand(path))


def isfile(path: str | os.PathLike) -> bool:
    return resolve(path).is_file() if is_url(path) else os.path.isfile(expand(path))


def isdir(path: str | os.PathLike) -> bool:
    """A local directory, or a bucket prefix holding at least one object."""
    return resolve(path).is_dir() if is_url(path) else os.path.isdir(expand(path))


def listdir(path: str | os.PathLike) -> list[str]:
    """Names (not paths) of the entries of a directory or bucket prefix."""
    if not is_url(path):
        return os.listdir(expand(path))
    return [child.name for child in resolve(path).iterdir()]


def glob(base: str | os.PathLike, pattern: str) -> list[str]:
    """Sorted paths of the files matching `pattern` (relative to `base`), as strings."""
    if not is_url(base):
        import glob as glob_lib

        return sorted(p for p in glob_lib.glob(os.path.join(expand(base), pattern))
                      if os.path.isfile(p))
    return sorted(os.fspath(p) for p in resolve(base).glob(pattern) if p.is_file())


def size(path: str | os.PathLike) -> int:
    if not is_url(path):
        return os.path.getsize(expand(path))
    fs, inner = _filesystem(os.fspath(path))
    return int(fs.size(inner))


def makedirs(path: str | os.PathLike) -> None:
    """Creates a local directory (and parents); buckets have no directories to create."""
    resolve(path).mkdir(parents=True, exist_ok=True)


def remove(path: str | os.PathLike) -> None:
    resolve(path).unlink()


def read_bytes(path: str | os.PathLike) -> bytes:
    with open_for_reading(path) as handle:
        return handle.read()


def read_text(path: str | os.PathLike) -> str:
    return read_bytes(path).decode("utf-8")


def write_text_atomically(path: str | os.PathLike, text: str) -> None:
    """Readers see the old content or the new, never part of it.

    Local: a temporary file renamed over `path`. Remote: one object upload (an object becomes
    visible only when its upload completes).
    """
    if is_url(path):
        resolve(path).write_text(text)
        return
    target = expand(path)
    temporary = f"{target}.tmp-{os.getpid()}"
    with open(temporary, "w") as handle:
        handle.write(text)
    os.replace(temporary, target)


def open_for_reading(path: str | os.PathLike, block_bytes: int = READ_BLOCK_BYTES) -> IO[bytes]:
    """A seekable binary file; remote ones fetch at least `block_bytes` per request and read
    ahead, so sequential small reads (record headers, records) cost few HTTP requests."""
    if not is_url(path):
        return open(expand(path), "rb")
    fs, inner = _filesystem(os.fspath(path))
    return fs.open(inner, "rb", block_size=block_bytes, cache_type="readahead")


class _RemoteReads(threading.local):
    """Per thread: an open read-ahead file and where the last read ended, per remote path."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[IO[bytes], int]] = {}


_REMOTE_READS = _RemoteReads()
_MAX_OPEN_FILES_PER_THREAD = 16
# A read starting at most this far past the previous one's end continues a sequential scan
# (the next TFRecord starts 16 bytes after the previous payload: crc, length, crc).
_SEQUENTIAL_GAP_BYTES = 64 << 10


def read_range(path: str, offset: int, length: int) -> bytes:
    """`length` bytes at `offset`.

    Remote files: a read that continues the previous one in this thread (records read in order)
    goes through a read-ahead buffer, so it usually costs no request and otherwise one large
    one; any other read (random access, as in training) is one request for exactly those bytes,
    so random reads do not download blocks they do not use.
    """
    if not is_url(path):
        with open(expand(path), "rb") as handle:
            handle.seek(offset)
            return handle.read(length)
    files = _REMOTE_READS.files
    if path not in files:
        if len(files) >= _MAX_OPEN_FILES_PER_THREAD:
            files.pop(next(iter(files)))[0].close()
        files[path] = (open_for_reading(path), -1)
    handle, previous_end = files[path]
    if previous_end >= 0 and 0 <= offset - previous_end <= _SEQUENTIAL_GAP_BYTES:
        handle.seek(offset)
        data = handle.read(length)
    else:
        fs, inner = _filesystem(path)
        data = fs.cat_file(inner, start=offset, end=offset + length)
    files[path] = (handle, offset + length)
    if len(data) != length:
        raise OSError(f"{path}: read {len(data)} of {length} bytes at byte {offset} "
                      "(the file is shorter than its index says).")
    return data


@contextlib.contextmanager
def local_copy(path: str | os.PathLike) -> Iterator[str]:
    """A local file with the content of `path`, for readers that take local paths only (PyAV,
    the annotation parsers): a local path as it is; a remote file downloaded to a temporary file,
    deleted afterwards. A missing remote file raises FileNotFoundError, as a local one would."""
    if not is_url(path):
        yield expand(path)
        return
    fs, inner = _filesystem(os.fspath(path))
    suffix = os.path.splitext(basename(path))[1]
    handle, temporary = tempfile.mkstemp(prefix="vivit-copy-", suffix=suffix)
    os.close(handle)
    try:
        fs.get_file(inner, temporary)
        yield temporary
    finally:
        os.remove(temporary)


def upload(local_path: str, path: str | os.PathLike) -> None:
    """Copies a local file to `path` (a URL or a local path)."""
    if is_url(path):
        fs, inner = _filesystem(os.fspath(path))
        fs.put_file(local_path, inner)
    else:
        shutil.copyfile(local_path, expand(path))


def staging_path(path: str | os.PathLike) -> str:
    """A local file name to write `path` through (for writers that take local paths only);
    `publish` puts it in place. Local: `<path>.tmp-<pid>` beside it (a killed run leaves only
    that temporary, which callers may delete). Remote: a new file in the local temp dir."""
    if not is_url(path):
        return f"{expand(path)}.tmp-{os.getpid()}"
    handle, temporary = tempfile.mkstemp(prefix="vivit-staged-")
    os.close(handle)
    return temporary


def publish(staging: str, path: str | os.PathLike) -> None:
    """Puts a finished `staging_path` file at `path`: a rename, or an upload (then deleted)."""
    if not is_url(path):
        os.replace(staging, expand(path))
        return
    try:
        upload(staging, path)
    finally:
        os.remove(staging)


class LocalMirror:
    """A local directory whose files are copied to a remote directory on `sync()`.

    For writers that append to local files only (TensorBoard's event writer): GCS objects cannot
    be appended to, so each sync uploads every file that changed as a whole new object. Syncs are
    at most every `min_interval_seconds` unless forced; `close()` syncs and deletes the copy.
    """

    def __init__(self, remote_dir: str | os.PathLike, min_interval_seconds: float = 10.0) -> None:
        self.remote_dir = os.fspath(remote_dir)
        self.local_dir = tempfile.mkdtemp(prefix="vivit-mirror-")
        self._min_interval = min_interval_seconds
        self._uploaded: dict[str, tuple[int, int]] = {}
        self._last_sync = 0.0

    def sync(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._last_sync < self._min_interval:
            return
        self._last_sync = time.monotonic()
        for root, _, names in os.walk(self.local_dir):
            for name in names:
                local = os.path.join(root, name)
                stat = os.stat(local)
                signature = (stat.st_size, stat.st_mtime_ns)
                if self._uploaded.get(local) == signature:
                    continue
                relative = os.path.relpath(local, self.local_dir).replace(os.sep, "/")
                upload(local, join(self.remote_dir, relative))
                self._uploaded[local] = signature

    def close(self) -> None:
        try:
            self.sync(force=True)
        finally:
            shutil.rmtree(self.local_dir, ignore_errors=True)
