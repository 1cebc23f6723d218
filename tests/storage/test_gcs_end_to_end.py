"""End to end on a bucket (the GCS emulator of tests/storage/conftest.py): prepare reads videos from
gs:// and writes shards to gs://, main.py trains from them with a gs:// workdir (config, checkpoints and TensorBoard events
in the bucket, nothing local), --mode=test restores from it, a run killed after a checkpoint
resumes from the bucket with the same losses, init_from loads a checkpoint in the bucket, and two
processes joined by jax.distributed share one gs:// workdir."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.storage.conftest import bucket_files
from tests.trainer.main_runner import FAST_OVERRIDES, REPO_ROOT, read_scalars

pytestmark = pytest.mark.slow
STEPS = 12


def _write_mp4(path, num_frames, seed, height=32, width=40):
    import av

    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for t in range(num_frames):
            image = np.full((height, width, 3), (20 + 10 * t) % 256, np.uint8)
            image[rng.integers(height), :] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _run(command, cwd, env, timeout=600):
    started = time.time()
    try:
            return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
    finally:
        print(f"{time.time() - started:.1f}s: {' '.join(command[1:3])} {command[-1]}")


def _environment(emulator, **extra):
    env = dict(os.environ, JAX_PLATFORMS="cpu", **emulator.environment(), **extra)
    env.pop("XLA_FLAGS", None)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def _main(workdir, *flags):
    return [sys.executable, str(REPO_ROOT / "main.py"),
            f"--config={REPO_ROOT / 'configs' / 'demo.py'}", f"--workdir={workdir}", *flags]


@pytest.fixture(scope="module")
def prepared(gcs_emulator, tmp_path_factory):
    """Shards written by `vivit.data.prepare --out=gs://...`, and the flags that train on them."""
    bucket = f"gs://{gcs_emulator.create_bucket('e2e')}"
    folder = tmp_path_factory.mktemp("videos")
    rows = ["path,label,split"]
    for i in range(12):
        _write_mp4(folder / f"v{i}.mp4", 16, seed=i)
        rows.append(f"v{i}.mp4,{'jump' if i % 2 else 'run'},{'train' if i < 8 else 'validation'}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    from vivit import storage

    for name in os.listdir(folder):  # The videos and annotations are read from the bucket too.
        storage.upload(str(folder / name), f"{bucket}/raw/{name}")
    result = _run([sys.executable, "-m", "vivit.data.prepare", f"--videos={bucket}/raw",
                   f"--annotations={bucket}/raw/labels.csv", f"--out={bucket}/data",
                   "--min_resize=32", "--videos_per_shard=4", "--workers=1", "--quiet",
                   "--verify"], cwd=folder, env=_environment(gcs_emulator))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "verify: OK" in result.stdout
    assert "train: 8 videos" in result.stdout and "validation: 4 videos" in result.stdout
    files = bucket_files(f"{bucket}/data")
    assert {"manifest.json", "label_map.txt", "train.tfrecord-00000-of-00002",
            "train.tfrecord-00001-of-00002", "validation.tfrecord-00000-of-00001"} <= set(files)
    assert not any(".tmp-" in name for name in files), files
    from vivit import storage
    from vivit.data.tfrecord_source import index_records

    for shard in ("train.tfrecord-00000-of-00002", "validation.tfrecord-00000-of-00001"):
        summary = json.loads(storage.read_text(f"{bucket}/data/{shard}.json"))
        assert [tuple(r) for r in summary["records"]] == index_records(f"{bucket}/data/{shard}")
    assert not (folder / "gs:").exists()
    flags = (
        *FAST_OVERRIDES, f"--config.num_training_steps={STEPS}", "--config.checkpoint_steps=4",
        f"--config.log_eval_steps={STEPS}", "--config.batch_size=4",
        "--config.dataset_name=video_tfrecord_dataset",
        f"--config.dataset_configs.base_dir={bucket}/data",
        "--config.dataset_configs.tables.train=train.tfrecord@2",
        "--config.dataset_configs.tables.validation=validation.tfrecord@1",
        "--config.dataset_configs.tables.test=validation.tfrecord@1",
        "--config.dataset_configs.num_classes=2")
    return bucket, flags


def _losses(emulator, workdir_url, tmp_path) -> dict[int, float]:
    """Per-step train/loss from the event files in the bucket; a step two runs wrote must agree."""
    local = tmp_path / f"events_{abs(hash(workdir_url))}"
    local.mkdir()
    from vivit import storage

    for name in bucket_files(workdir_url):
        if name.startswith("events.out.tfevents."):
            (local / name).write_bytes(storage.read_bytes(f"{workdir_url}/{name}"))
    losses = {}
    for step, values in read_scalars(local)["train/loss"].items():
        np.testing.assert_allclose(values, values[0], rtol=1e-6, err_msg=f"step {step}")
        losses[step] = values[0]
    return losses


def _committed_steps(workdir_url) -> list[int]:
    """Checkpoint steps Orbax finished in the bucket (on GCS it writes a step in place and adds
    commit_success.txt when the step is complete)."""
    return sorted({int(m.group(1)) for name in bucket_files(f"{workdir_url}/checkpoints")
                   if (m := re.match(r"^(\d+)/commit_success.txt$", name))})


def test_train_test_resume_and_init_from_on_a_bucket(prepared, gcs_emulator, tmp_path):
    bucket, flags = prepared
    env = _environment(gcs_emulator)
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    run = f"{bucket}/run"
    result = _run(_main(run, *flags), cwd, env)
    assert result.returncode == 0, result.stderr[-3000:]
    files = bucket_files(run)
    assert {"config.json", "label_names.json"} <= set(files), files
    assert json.loads(__import__("vivit.storage").storage.read_text(f"{run}/config.json"))[
        "dataset_configs"]["base_dir"] == f"{bucket}/data"
    assert sum(name.startswith("events.out.tfevents.") for name in files) == 1, files
    assert _committed_steps(run)[-1] == STEPS
    reference = _losses(gcs_emulator, run, tmp_path)
    assert sorted(reference) == list(range(1, STEPS + 1))
    assert os.listdir(cwd) == [] and not (REPO_ROOT / "gs:").exists()

    result = _run(_main(run, *flags, "--mode=test"), cwd, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Restored step {STEPS} from {run}/checkpoints." in result.stderr
    assert "Multi-view test at step" in result.stderr
    assert f"  checkpoints  {run}/checkpoints (steps " in result.stderr  # the closing summary
    # The info tool lists a bucket workdir's steps through vivit.workdir, as it does a local one.
    info = _run([sys.executable, "-m", "vivit.pretrained", "info", run], cwd, env)
    assert info.returncode == 0, info.stderr[-3000:]
    assert f"  {STEPS}: intact" in info.stdout and f"newest intact step: {STEPS}" in info.stdout

    killed = f"{bucket}/killed"
    process = subprocess.Popen(_main(killed, *flags), cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not _committed_steps(killed):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline, "no checkpoint appeared in the bucket"
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    saved = _committed_steps(killed)
    assert saved[-1] < STEPS, f"the run finished before the kill: {saved}"
    result = _run(_main(killed, *flags), cwd, env)
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = re.search(rf"Resumed from {killed}/checkpoints at step (\d+)", result.stderr)
    assert resumed, result.stderr[-3000:]
    resumed_at = int(resumed.group(1))
    assert resumed_at >= saved[-1]
    losses = _losses(gcs_emulator, killed, tmp_path)
    assert sorted(losses) == list(range(1, STEPS + 1))
    np.testing.assert_allclose([losses[s] for s in sorted(reference)],
                               [reference[s] for s in sorted(reference)], rtol=1e-6)

    result = _run(_main(f"{bucket}/init", *flags, "--config.num_training_steps=2",
                        "--config.lr_configs.warmup_steps=1",
                        f"--config.init_from.checkpoint_path={run}"), cwd, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(rf"Initialized from {run}/checkpoints/{STEPS}/state \(orbax\): "
                     r"[1-9]\d* restored", result.stderr), result.stderr[-3000:]
    assert os.listdir(cwd) == [] and not (REPO_ROOT / "gs:").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_share_one_gs_workdir(gcs_emulator, tmp_path):
    bucket = f"gs://{gcs_emulator.create_bucket('multihost')}"
    workdir = f"{bucket}/run"
    flags = (*FAST_OVERRIDES, "--config.num_training_steps=8", "--config.checkpoint_steps=4",
             "--config.lr_configs.warmup_steps=2",
             "--config.log_eval_steps=8", f"--coordinator_address=127.0.0.1:{_free_port()}",
             "--num_processes=2")
    env = _environment(gcs_emulator, JAX_NUM_CPU_DEVICES="2")
    workers = [subprocess.Popen(_main(workdir, *flags, f"--process_id={i}"), cwd=tmp_path,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
    assert "Process 1 of 2; 2 local devices of 4." in outputs[1][1]
    assert _committed_steps(workdir) == [4, 8]
    files = bucket_files(workdir)
    assert "config.json" in files
    assert sum(name.startswith("events.out.tfevents.") for name in files) == 1, files
    assert os.listdir(tmp_path) == []
