"""vivit.storage and the code that uses it, against a real GCS emulator (tests/storage/conftest.py):
URLs stay URLs, local paths become absolute, remote records are read with few HTTP requests, and
workdirs, DMVR TFRecords, checkpoints and TensorBoard events live in the bucket."""

import json
import os
import re
import time

import numpy as np
import pytest

from tests.storage.conftest import bucket_files, tiny_data_config
from vivit import workdir as workdir_lib
from vivit import storage


def test_urls_stay_intact_and_local_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert str(storage.resolve("gs://b/run")) == "gs://b/run"
    assert str(storage.resolve("gs://b/run") / "checkpoints") == "gs://b/run/checkpoints"
    assert storage.join("gs://b/run/", "checkpoints", "1") == "gs://b/run/checkpoints/1"
    assert str(storage.resolve("run")) == str(tmp_path / "run")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert str(storage.resolve("~/run")) == str(tmp_path / "home" / "run")
    assert storage.expand("gs://b/~x") == "gs://b/~x"


def test_package_import_points_epath_and_tensorstore_at_fsspec_and_the_emulator():
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items()
           if k not in ("EPATH_USE_TF", "TENSORSTORE_GCS_HTTP_URL")}
    env["STORAGE_EMULATOR_HOST"] = "http://127.0.0.1:1"
    code = ("import os, vivit; print(os.environ['EPATH_USE_TF'], "
            "os.environ['TENSORSTORE_GCS_HTTP_URL'])")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["false", "http://127.0.0.1:1"]


def test_workdir_on_gs_writes_to_the_bucket_and_nothing_local(bucket, tmp_path, monkeypatch):
    import ml_collections

    monkeypatch.chdir(tmp_path)
    workdir = workdir_lib.ensure_writable(f"{bucket}/run")
    assert str(workdir) == f"{bucket}/run"
    config = ml_collections.ConfigDict({"a": 1})
    assert workdir_lib.write_config(f"{bucket}/run", config) == []
    config.a = 2
    assert workdir_lib.write_config(f"{bucket}/run", config) == ["a: 1 -> 2"]
    assert bucket_files(bucket) == ["run/config.json", "run/config.resumed_1.json"]
    assert json.loads(storage.read_text(f"{bucket}/run/config.json")) == {"a": 1}
    assert os.listdir(tmp_path) == []
    with pytest.raises(PermissionError, match="Workdir 'gs://no-such-bucket-vivit/run' is not "
                                              "writable"):
        workdir_lib.ensure_writable("gs://no-such-bucket-vivit/run")




def _write_tfrecords(directory, files: int, per_file: int, frames: int = 24, size=(18, 26)):
    from tests.data.conftest import video_frames, write_dmvr_tfrecord

    videos = {}
    for shard in range(files):
        batch = []
        for _ in range(per_file):
            number = len(videos)
            batch.append((video_frames(frames, *size, number), number % 5, f"vid{number}"))
            videos[f"vid{number}"] = batch[-1]
        write_dmvr_tfrecord(directory / f"train.tfrecord-{shard:05d}-of-{files:05d}", batch)
    return videos


def _upload_tree(local_dir, url):
    for name in os.listdir(local_dir):
        storage.upload(os.path.join(local_dir, name), storage.join(url, name))


def _downloads(emulator, url: str) -> int:
    """Media downloads (range reads) of the object at gs://bucket/name answered so far."""
    time.sleep(0.2)  # The server logs after it answers.
    bucket_name, object_name = url[len("gs://"):].split("/", 1)
    quoted = object_name.replace("/", "%2F")
    return sum(1 for line in emulator.log_lines() if re.search(
        rf'"GET /download/storage/v1/b/{re.escape(bucket_name)}/o/{re.escape(quoted)}\?', line))


def test_indexing_and_reading_records_costs_a_few_large_requests(
        bucket, gcs_emulator, tmp_path):
    from vivit.data.tfrecord_source import index_records, read_record

    # 40 records of ~30 kB: one request per header or per record would be 40 to 80 requests.
    _write_tfrecords(tmp_path, files=1, per_file=40, frames=12, size=(64, 64))
    local = tmp_path / "train.tfrecord-00000-of-00001"
    remote = f"{bucket}/data/train.tfrecord-00000-of-00001"
    storage.upload(str(local), remote)
    assert _downloads(gcs_emulator, remote) == 0

    locations = index_records(remote)
    assert locations == index_records(str(local))
    after_index = _downloads(gcs_emulator, remote)
    assert 1 <= after_index <= 2, after_index
    for number, (offset, length) in enumerate(locations):
        assert read_record(remote, number, offset, length) == read_record(
            str(local), number, offset, length)
    assert _downloads(gcs_emulator, remote) - after_index <= 2
    assert os.path.getsize(local) > 40 * 20_000  # The records really are that many bytes.


def test_random_reads_fetch_only_the_records_they_read(bucket, tmp_path, monkeypatch):
    """Every range request is observed (not replaced) on gcsfs's filesystem: in random order each
    record costs one request of about its own size, not a read-ahead block."""
    import fsspec

    from vivit.data.tfrecord_source import index_records, read_record

    _write_tfrecords(tmp_path, files=1, per_file=30, frames=12, size=(64, 64))
    local = tmp_path / "train.tfrecord-00000-of-00001"
    remote = f"{bucket}/data/random.tfrecord"
    storage.upload(str(local), remote)
    locations = index_records(str(local))
    filesystem = fsspec.filesystem("gs")
    fetched = []
    real_cat_file = filesystem.cat_file

    def observed_cat_file(path, start=None, end=None, **kwargs):
        fetched.append(end - start)
        return real_cat_file(path, start=start, end=end, **kwargs)

    monkeypatch.setattr(filesystem, "cat_file", observed_cat_file)
    order = [29, 3, 17, 8, 25, 0, 12, 21, 5, 14]  # No record right after the one before.
    for number in order:
        offset, length = locations[number]
        assert read_record(remote, int(number), offset, length) == read_record(
            str(local), int(number), offset, length)
    assert len(fetched) <= len(order)
    assert sum(fetched) <= sum(locations[n][1] for n in order) * 1.5, fetched


def test_a_prepare_summary_indexes_a_bucket_shard_without_reading_it(
        bucket, gcs_emulator, tmp_path):
    from vivit.data.tfrecord_source import index_records, record_locations

    _write_tfrecords(tmp_path, files=1, per_file=6)
    local = tmp_path / "train.tfrecord-00000-of-00001"
    remote = f"{bucket}/data/{local.name}"
    storage.upload(str(local), remote)
    locations = index_records(str(local))
    storage.write_text_atomically(f"{remote}.json", json.dumps({"records": locations}))
    assert record_locations(remote) == locations
    assert _downloads(gcs_emulator, remote) == 0
    # An index that does not fit the file (e.g. the shard was replaced) is not trusted.
    storage.write_text_atomically(f"{remote}.json", json.dumps({"records": locations[:-1]}))
    assert record_locations(remote) == locations
    assert _downloads(gcs_emulator, remote) >= 1


def test_dmvr_split_on_a_bucket_reads_like_the_local_one(bucket, tmp_path, tiny_config):
    from tests.task_helpers import dataset_of

    _write_tfrecords(tmp_path, files=3, per_file=3)
    (tmp_path / "label_map.txt").write_text("".join(f"class{i}\n" for i in range(5)))
    _upload_tree(tmp_path, f"{bucket}/data")
    dc = tiny_config.dataset_configs
    tiny_config.dataset_name = "video_tfrecord_dataset"
    dc.num_classes, dc.keep_key = 5, True
    batches = {}
    for where in (str(tmp_path), f"{bucket}/data"):
        dc.base_dir = where
        for table in ("train.tfrecord@3", "train.tfrecord-*"):
            dc.tables.train = table
            data = dataset_of(tiny_config, "train", process_index=0, process_count=1)
            assert data.meta.num_examples == 9
            assert data.meta.label_names == [f"class{i}" for i in range(5)]
            batches[where, table] = next(data.batches())
    reference = batches[str(tmp_path), "train.tfrecord@3"]
    for batch in batches.values():
        assert list(batch["key"]) == list(reference["key"])
        np.testing.assert_array_equal(batch["inputs"], reference["inputs"])

    dc.base_dir, dc.tables.train = f"{bucket}/data", "train.tfrecord@4"
    with pytest.raises(FileNotFoundError, match="4 of 4 shards missing"):
        dataset_of(tiny_config, "train", process_index=0, process_count=1)
    dc.base_dir = f"{bucket}/nothing"
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        dataset_of(tiny_config, "train", process_index=0, process_count=1)


@pytest.fixture
def tiny_config():
    return tiny_data_config(16)


def test_summaries_upload_tensorboard_events_to_the_bucket(bucket, tmp_path, monkeypatch):
    import tensorflow as tf

    from vivit.train.summaries import Summaries

    monkeypatch.chdir(tmp_path)
    summaries = Summaries(f"{bucket}/run", total_steps=3, progress_every=100)
    summaries.write(1, "train", {"loss": 2.5})
    summaries.flush()  # The first flush uploads; later ones at most every few seconds.
    names = bucket_files(bucket)
    assert len(names) == 1 and names[0].startswith("run/events.out.tfevents."), names
    summaries.write(2, "train", {"loss": 1.5})
    mirror = summaries._mirror.local_dir
    summaries.close()  # Uploads the rest and deletes the local copy.
    assert not os.path.exists(mirror)
    assert bucket_files(bucket) == names
    local = tmp_path / "events"
    local.write_bytes(storage.read_bytes(f"{bucket}/{names[0]}"))
    losses = {event.step: float(tf.make_ndarray(value.tensor))
              for event in tf.compat.v1.train.summary_iterator(str(local))
              for value in event.summary.value if value.tag == "train/loss"}
    assert losses == {1: 2.5, 2: 1.5}
    assert sorted(os.listdir(tmp_path)) == ["events"]


def test_checkpoint_files_in_a_bucket_read_like_local_ones(bucket, tmp_path, capsys):
    from flax import serialization

    from vivit.pretrained.__main__ import main as checkpoints_main
    from vivit.formats.readers import read_checkpoint

    params = {"embedding": {"kernel": np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)},
              "Transformer": {"encoder_norm": {"scale": np.ones(4, np.float32)}}}
    scenic = tmp_path / "scenic"
    scenic.mkdir()
    (scenic / "checkpoint_7").write_bytes(serialization.msgpack_serialize({"params": params}))
    storage.upload(str(scenic / "checkpoint_7"), f"{bucket}/scenic/checkpoint_7")
    np.savez(tmp_path / "vit.npz", **{"Transformer/posembed_input/pos_embedding":
                                      np.zeros((1, 5, 4), np.float32),
                                      "embedding/kernel": np.ones((2, 2, 3, 4), np.float32)})
    storage.upload(str(tmp_path / "vit.npz"), f"{bucket}/vit.npz")

    for name in ("scenic", "vit.npz"):
        local, remote = read_checkpoint(str(tmp_path / name)), read_checkpoint(f"{bucket}/{name}")
        assert (remote.format, sorted(remote.params)) == (local.format, sorted(local.params))
        for key, value in local.params.items():
            np.testing.assert_array_equal(remote.params[key], value)
    assert read_checkpoint(f"{bucket}/scenic").path == f"{bucket}/scenic/checkpoint_7"
    assert checkpoints_main(["info", f"{bucket}/vit.npz"]) == 0
    assert "format: vit_npz" in capsys.readouterr().out
    assert checkpoints_main(["info", f"{bucket}/missing"]) == 2
    assert f"'{bucket}/missing' does not exist" in capsys.readouterr().err


def test_finished_steps_of_a_bucket_workdir_skip_a_step_still_being_written(bucket):
    """On a bucket Orbax writes a step in place and commits it with a marker file."""
    run = f"{bucket}/listed"
    storage.makedirs(f"{run}/checkpoints")
    for step, committed in ((2, True), (10, True), (11, False)):
        storage.write_text_atomically(f"{run}/checkpoints/{step}/state/_METADATA", "{}")
        if committed:
            storage.write_text_atomically(f"{run}/checkpoints/{step}/commit_success.txt", "ok")
    assert workdir_lib.finished_steps(run) == [2, 10]
    assert workdir_lib.finished_steps(f"{run}/checkpoints") == [2, 10]
