"""A real GCS emulator for the storage tests: `gcp-storage-emulator` (a Python HTTP server speaking
the GCS JSON API, in memory) started once per session on a free port, stopped at the end. It runs
through tests/storage/gcs_emulator_server.py, which adds the generation headers real GCS sends on
downloads and TensorStore (Orbax) needs.

Every process of the session (and the subprocesses the tests start) reaches it through the
standard variables: STORAGE_EMULATOR_HOST (gcsfs, hence fsspec and etils.epath) and
TENSORSTORE_GCS_HTTP_URL (TensorStore, which Orbax writes arrays with) and
CLOUD_STORAGE_EMULATOR_ENDPOINT (google-cloud-cpp, which ArrayRecord reads gs:// objects with;
without it ArrayRecord looks for real credentials).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

# Read when gcsfs is imported: the plain GCS filesystem, without the gRPC bucket-type probe that
# the emulator cannot answer (see vivit.storage.configure_environment).
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclasses.dataclass
class Emulator:
    url: str
    log_path: str
    _names = itertools.count()

    def environment(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.url, "TENSORSTORE_GCS_HTTP_URL": self.url,
                "CLOUD_STORAGE_EMULATOR_ENDPOINT": self.url,
                "EPATH_USE_TF": "false", "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}

    def create_bucket(self, prefix: str = "vivit") -> str:
        name = f"{prefix}-{os.getpid()}-{next(self._names)}"
        request = urllib.request.Request(
            f"{self.url}/storage/v1/b?project=test", data=json.dumps({"name": name}).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
        return name

    def log_lines(self) -> list[str]:
        """Every line the server logged so far (one per HTTP request it answered, among others)."""
        with open(self.log_path) as handle:
            return handle.read().splitlines()


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory):
    port = _free_port()
    log_path = str(tmp_path_factory.mktemp("gcs_emulator") / "server.log")
    log = open(log_path, "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.gcs_emulator_server", "start", "--host=127.0.0.1",
         f"--port={port}", "--in-memory"], stdout=log, stderr=subprocess.STDOUT,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b?project=test", timeout=5):
                break
        except OSError:
            assert process.poll() is None, open(log_path).read()[-3000:]
            assert time.time() < deadline, "the GCS emulator did not start"
            time.sleep(0.2)
    emulator = Emulator(url, log_path)
    saved = {key: os.environ.get(key) for key in emulator.environment()}
    os.environ.update(emulator.environment())
    try:
        yield emulator
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def bucket(gcs_emulator) -> str:
    """A new, empty bucket: gs://<name>."""
    return f"gs://{gcs_emulator.create_bucket()}"


def bucket_files(url: str) -> list[str]:
    """Every object under `url`, as paths relative to it (listed with gcsfs)."""
    import fsspec

    fs = fsspec.filesystem("gs")
    root = url[len("gs://"):].rstrip("/")
    return sorted(path[len(root) + 1:] for path in fs.find(root))


def tiny_data_config(size: int):
    """The default config with a tiny clip (4 frames at stride 2, size x size) and batch 4."""
    from vivit.config import default_config

    config = default_config()
    dc = config.dataset_configs
    dc.num_frames, dc.stride, dc.min_resize, dc.crop_size = 4, 2, size, size
    dc.random_flip = False
    config.batch_size = 4
    return config
