"""Starts `gcp-storage-emulator` with the one response header it leaves out and TensorStore needs.

Real GCS answers every object download with `x-goog-generation` (and `x-goog-metageneration`);
TensorStore's GCS driver, which Orbax writes and reads arrays with, fails without it ("Malformed
StorageGeneration"). The emulator's object table already holds both numbers; this adds them to
its download responses and changes nothing else.

    python -m tests.storage.gcs_emulator_server start --host=127.0.0.1 --port=PORT --in-memory
"""

import sys

from gcp_storage_emulator.handlers import objects

_download = objects.download


def _download_with_generation(request, response, storage, *args, **kwargs):
    _download(request, response, storage, *args, **kwargs)
    try:
        obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
    except Exception:  # Not found: the wrapped handler already answered 404.
        return
    response["x-goog-generation"] = str(obj["generation"])
    response["x-goog-metageneration"] = str(obj["metageneration"])


objects.download = _download_with_generation

if __name__ == "__main__":
    from gcp_storage_emulator.__main__ import main  # Imports the routes after the patch.

    sys.exit(main())
