"""A sweep whose workdir is a bucket (the GCS emulator of tests/storage/conftest.py): the local
launcher trains its run into gs://, keeps the run's log and finished marker there, skips the
finished run on a rerun, and `report` reads the results back from the bucket; nothing is written
under a local 'gs:' folder."""

import os
import subprocess
import sys

import pytest

from tests.storage.conftest import bucket_files
from tests.trainer.main_runner import REPO_ROOT, environment

pytestmark = pytest.mark.slow

_SWEEP_FILE = '''
from vivit.sweep import Row, Sweep

_TINY = {
    "batch_size": 8, "num_training_steps": 6, "lr_configs.warmup_steps": 2,
    "log_eval_steps": 6, "checkpoint_steps": 6, "count_flops": False,
    "dataset_configs.synthetic.num_train_examples": 48,
    "dataset_configs.synthetic.num_validation_examples": 8,
    "dataset_configs.synthetic.num_test_examples": 8,
}


def get_sweep(arg=""):
    return Sweep(key="bucket_sweep", title="One tiny run", base="configs/demo.py", common=_TINY,
                 rows=[Row("lr=0.1", "0.1", {"lr_configs.base_learning_rate": 0.1})])
'''


def _sweep(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vivit.sweep", *args], cwd=REPO_ROOT,
                          env=environment(), capture_output=True, text=True, timeout=900)


def test_a_local_sweep_on_a_bucket_keeps_everything_in_the_bucket(bucket, tmp_path):
    sweep_file = tmp_path / "bucket_sweep.py"
    sweep_file.write_text(_SWEEP_FILE)
    workdir = f"{bucket}/sweep"

    result = _sweep(f"--sweep={sweep_file}", f"--workdir={workdir}", "--launcher=local")
    assert result.returncode == 0, result.stderr[-3000:]
    files = bucket_files(workdir)
    for name in ("sweep.json", "lr=0.1/result.json", "lr=0.1/main.log", "lr=0.1/config.json",
                 "lr=0.1/resolved_config.json"):
        assert name in files, (name, files)
    assert any(f.startswith("lr=0.1/checkpoints/") for f in files)
    assert any(f.startswith("lr=0.1/events.out.tfevents.") for f in files)

    rerun = _sweep(f"--sweep={sweep_file}", f"--workdir={workdir}", "--launcher=local")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "finished before, skipped" in rerun.stderr

    report = _sweep("report", f"--workdir={workdir}")
    assert report.returncode == 0, report.stderr[-3000:]
    assert {"report.md", "report.csv"} <= set(bucket_files(workdir))
    assert "lr=0.1" in report.stdout or "0.1" in report.stdout
    for root in (REPO_ROOT, tmp_path, os.getcwd()):
        assert not os.path.exists(os.path.join(root, "gs:")), root
