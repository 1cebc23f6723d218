"""ArrayRecord data in a bucket (the GCS emulator): `prepare --format=array_record --out=gs://`,
training from those shards, and a TFDS dataset read with `data_dir=gs://...`."""

import sys

import numpy as np
import pytest

from tests.storage.conftest import bucket_files, tiny_data_config
from tests.storage.test_gcs_end_to_end import _environment, _main, _run, _write_mp4
from tests.tiny_tfds import LABELS, NAME, build_tiny_videos
from tests.trainer.main_runner import FAST_OVERRIDES


@pytest.mark.slow
def test_prepare_array_record_to_a_bucket_then_train_from_it(gcs_emulator, tmp_path):
    bucket = f"gs://{gcs_emulator.create_bucket('ar')}"
    rows = ["path,label,split"]
    for i in range(6):
        _write_mp4(tmp_path / f"v{i}.mp4", 12, seed=i)
        rows.append(f"v{i}.mp4,{'jump' if i % 2 else 'run'},{'train' if i < 4 else 'validation'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    env = _environment(gcs_emulator)
    result = _run([sys.executable, "-m", "vivit.data.prepare", f"--videos={tmp_path}",
                   f"--annotations={tmp_path / 'labels.csv'}", f"--out={bucket}/data",
                   "--format=array_record", "--min_resize=32", "--videos_per_shard=2",
                   "--workers=1", "--quiet", "--verify"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "verify: OK" in result.stdout
    files = bucket_files(f"{bucket}/data")
    assert {"train.array_record-00000-of-00002", "train.array_record-00001-of-00002",
            "validation.array_record-00000-of-00001"} <= set(files), files
    assert not any(".tmp-" in name for name in files), files

    from vivit.data.tfrecord_source import record_locations

    assert len(record_locations(f"{bucket}/data/train.array_record-00000-of-00002")) == 2
    run = f"{bucket}/run"
    result = _run(_main(run, *FAST_OVERRIDES, "--config.num_training_steps=3",
                        "--config.lr_configs.warmup_steps=1",
                        "--config.checkpoint_steps=3", "--config.log_eval_steps=3",
                        "--config.batch_size=2", "--config.dataset_name=video_tfrecord_dataset",
                        f"--config.dataset_configs.base_dir={bucket}/data",
                        "--config.dataset_configs.tables.train=train.array_record@2",
                        "--config.dataset_configs.tables.validation=validation.array_record@1",
                        "--config.dataset_configs.tables.test=validation.array_record@1",
                        "--config.dataset_configs.num_classes=2"), tmp_path, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "checkpoints/3/commit_success.txt" in bucket_files(run)


def test_array_record_bad_input_on_a_bucket_is_one_line(bucket, tmp_path):
    from tests.task_helpers import dataset_of
    from vivit.data.tfrecord_source import record_locations

    config = tiny_data_config(12)
    config.dataset_name = "video_tfrecord_dataset"
    config.dataset_configs.num_classes = 2
    config.dataset_configs.base_dir = f"{bucket}/data"
    config.dataset_configs.tables.train = "train.array_record@2"
    from vivit import storage

    (tmp_path / "label_map.txt").write_text("a\n")
    storage.upload(str(tmp_path / "label_map.txt"), f"{bucket}/data/label_map.txt")
    with pytest.raises(FileNotFoundError, match=f"2 of 2 shards missing in {bucket}/data"):
        dataset_of(config, "train", process_index=0, process_count=1)
    (tmp_path / "junk").write_bytes(b"not an array record file")
    storage.upload(str(tmp_path / "junk"), f"{bucket}/data/x.array_record-00000-of-00001")
    with pytest.raises(ValueError, match=f"{bucket}/data/x.array_record-00000-of-00001: not a "
                                         "readable ArrayRecord file"):
        record_locations(f"{bucket}/data/x.array_record-00000-of-00001")


@pytest.fixture(scope="module")
def tfds_local_and_bucket(gcs_emulator, tmp_path_factory):
    """A tiny TFDS video dataset prepared as ArrayRecord locally, and a copy of it in a bucket."""
    local = tmp_path_factory.mktemp("tfds")
    build_tiny_videos(str(local))
    from vivit import storage

    remote = f"gs://{gcs_emulator.create_bucket('tfds')}/tfds"
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        storage.upload(str(path), f"{remote}/{path.relative_to(local).as_posix()}")
    return str(local), remote


def test_tfds_from_a_bucket_gives_the_local_batches(tfds_local_and_bucket):
    from tests.task_helpers import dataset_of

    batches = {}
    for where, data_dir in zip(("local", "bucket"), tfds_local_and_bucket):
        config = tiny_data_config(12)
        config.dataset_name = "tfds"
        dc = config.dataset_configs
        dc.tfds.name, dc.tfds.data_dir, dc.num_classes, dc.keep_key = (
            NAME, data_dir, 3, True)
        dataset = dataset_of(config, "train", process_index=0, process_count=1)
        assert dataset.meta.num_examples == 6 and dataset.meta.label_names == LABELS
        iterator = dataset.batches()
        batches[where] = [next(iterator) for _ in range(2)]
    for local, remote in zip(batches["local"], batches["bucket"]):
        assert set(local) == set(remote)
        for key in local:
            np.testing.assert_array_equal(local[key], remote[key], err_msg=key)
