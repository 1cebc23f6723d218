"""`python main.py` stops with one clear error line naming the cause, exit code 1, and leaves
existing checkpoints byte-for-byte as they were."""

import textwrap

import pytest

from tests.trainer.main_runner import (
    FAST_OVERRIDES, checkpoint_steps, run_main, tree_digest)

pytestmark = pytest.mark.slow
SHORT = FAST_OVERRIDES + ("--config.num_training_steps=10", "--config.lr_configs.warmup_steps=2")


@pytest.fixture(scope="module")
def trained_workdir(tmp_path_factory):
    """A workdir holding the finished checkpoint of a 10-step run."""
    workdir = tmp_path_factory.mktemp("trained")
    result = run_main(workdir, *SHORT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert checkpoint_steps(workdir) == [10]
    return workdir


def _error_line(result) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("main.py: error: "), result.stderr[-3000:]
    return last


def test_unknown_key_in_a_config_file_is_named_with_a_suggestion(tmp_path):
    config_file = tmp_path / "typo.py"
    config_file.write_text(textwrap.dedent("""
        import ml_collections
        def get_config():
            config = ml_collections.ConfigDict()
            config.batch_size = 8
            config.dataset_configs = ml_collections.ConfigDict({"num_clases": 10})
            return config
    """))
    line = _error_line(run_main(tmp_path / "work", config=str(config_file)))
    assert "Unknown config key 'dataset_configs.num_clases'" in line
    assert "Did you mean 'dataset_configs.num_classes'?" in line


def test_misspelt_or_malformed_override_is_rejected_before_anything_runs(tmp_path):
    result = run_main(tmp_path, "--config.dataset_configs.num_clases=3")
    assert result.returncode != 0 and "num_clases" in result.stderr
    assert "num_classes" in result.stderr  # ml_collections suggests the right key.
    result = run_main(tmp_path, "--config.batch_size=eight")
    assert result.returncode != 0
    assert "--config.batch_size=eight" in result.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_batch_not_divisible_by_devices_names_the_key(trained_workdir):
    before = tree_digest(trained_workdir / "checkpoints")
    line = _error_line(run_main(trained_workdir, *SHORT, "--config.batch_size=12", devices=8))
    assert "config.batch_size=12 is not divisible by the 8 devices" in line
    assert tree_digest(trained_workdir / "checkpoints") == before


def test_unwritable_workdir_is_named(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    line = _error_line(run_main(blocker / "workdir", *SHORT))
    assert f"Workdir '{blocker / 'workdir'}' is not writable" in line


def test_nan_loss_stops_naming_the_step_and_keeps_the_checkpoints(trained_workdir):
    before = tree_digest(trained_workdir / "checkpoints")
    result = run_main(trained_workdir, *FAST_OVERRIDES, "--config.num_training_steps=20",
                      "--config.lr_configs.base_learning_rate=1e30",
                      "--config.lr_configs.warmup_steps=0")
    line = _error_line(result)
    assert "Non-finite training loss at step" in line
    assert checkpoint_steps(trained_workdir) == [10]
    assert tree_digest(trained_workdir / "checkpoints") == before


def test_resuming_with_another_optimizer_explains_the_mismatch(trained_workdir):
    before = tree_digest(trained_workdir / "checkpoints")
    line = _error_line(run_main(trained_workdir, *SHORT, "--config.optimizer=momentum"))
    assert "does not fit the train state of this config" in line
    assert f"--config.init_from.checkpoint_path={trained_workdir}" in line
    assert tree_digest(trained_workdir / "checkpoints") == before


def test_bad_input_writes_nothing_into_the_workdir(tmp_path):
    _error_line(run_main(tmp_path, *SHORT, "--config.batch_size=12", devices=8))
    assert list(tmp_path.iterdir()) == []


def test_missing_dataset_directory_fails_fast_naming_the_key(tmp_path):
    line = _error_line(run_main(tmp_path, config="configs/k400_fe.py"))
    assert "dataset_configs.base_dir must be set" in line
    missing = tmp_path / "no_such_dir"
    line = _error_line(run_main(tmp_path, f"--config.dataset_configs.base_dir={missing}",
                                config="configs/k400_fe.py"))
    assert f"dataset_configs.base_dir='{missing}' is not a directory" in line
    assert not (tmp_path / "checkpoints").exists()


def test_predict_on_a_missing_file_names_it(trained_workdir, tmp_path):
    missing = tmp_path / "missing.mp4"
    line = _error_line(run_main(trained_workdir, "--mode=predict", str(missing)))
    assert f"Video file '{missing}' does not exist" in line


def _only_line(result) -> str:
    """The run failed with exit code 1 and wrote exactly one line to stderr, no traceback."""
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("main.py: error: "), result.stderr[-3000:]
    return lines[0]


def test_misspelt_override_is_one_line_naming_the_key(tmp_path):
    line = _only_line(run_main(tmp_path, "--config.modle.num_heads=2"))
    assert line == ("main.py: error: Unknown config key 'modle.num_heads' in "
                    "--config.modle.num_heads=2. Did you mean 'model.num_heads'?")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad_line, expected", [
    ("config.modle.num_heads = 2", "unknown config key 'modle'. Did you mean 'model'?"),
    ("Use a pretrained Kinetics checkpoint", "invalid syntax"),
])
def test_typo_inside_a_config_file_is_one_line_naming_file_and_line(tmp_path, bad_line, expected):
    config_file = tmp_path / "typo.py"
    config_file.write_text(
        "from vivit.config import default_config\n"
        "def get_config():\n"
        "    config = default_config()\n"
        f"    {bad_line}\n"
        "    return config\n")
    line = _only_line(run_main(tmp_path / "work", config=str(config_file)))
    assert line.startswith(f"main.py: error: Config file '{config_file}' line 4"), line
    assert expected in line


def test_a_refused_run_leaves_a_trained_workdir_byte_for_byte(trained_workdir):
    before = tree_digest(trained_workdir)
    line = _error_line(run_main(trained_workdir, *SHORT, "--config.model.num_heads=3"))
    assert "model.num_heads=3 must divide model.hidden_size=64" in line
    assert tree_digest(trained_workdir) == before


def test_a_clip_shorter_than_the_tubelet_is_one_line_naming_both_keys(tmp_path):
    result = run_main(tmp_path / "work", *SHORT, "--config.dataset_configs.num_frames=1")
    line = _error_line(result)
    assert ("model.patches.size[2]=2 (tubelet time) is longer than the clip, "
            "dataset_configs.num_frames=1") in line
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "work").exists()
    verbose = run_main(tmp_path / "work", *SHORT, "--config.dataset_configs.num_frames=1",
                       "--verbose")
    assert _error_line(verbose) == line and "Traceback" in verbose.stderr


def test_a_misspelt_checkpoint_flag_is_one_line_naming_the_accepted_values(trained_workdir):
    result = run_main(trained_workdir, "--mode=test", "--checkpoint=bset")
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.strip().splitlines() == [
        "main.py: error: --checkpoint='bset' is not accepted; expected latest, best or a step "
        "number (a non-negative integer)."]


def test_flops_on_a_bad_config_is_one_line(tmp_path):
    import subprocess
    import sys

    from tests.trainer.main_runner import REPO_ROOT, environment

    command = [sys.executable, "-m", "vivit.flops", "--config=configs/demo.py",
               "--config.model.num_heads=3"]
    result = subprocess.run(command, cwd=REPO_ROOT, env=environment(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "python -m vivit.flops: error: model.num_heads=3 must divide model.hidden_size=64.")
    assert "Traceback" not in result.stderr
    verbose = subprocess.run(command + ["--verbose"], cwd=REPO_ROOT, env=environment(),
                             capture_output=True, text=True, timeout=300)
    assert "Traceback" in verbose.stderr and verbose.returncode == 1
