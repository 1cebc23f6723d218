"""A run checks everything it can before it writes anything: a refused run leaves a missing
workdir missing and an existing one byte-for-byte as it was, so the corrected rerun is a fresh
start (step 0, no "config differs" warning), not a resume of a config that never trained."""

import logging

import pytest

import trainer
from tests.trainer.main_runner import tree_digest
from vivit.config import complete, load_config_file

pytestmark = pytest.mark.slow


def _config(**overrides):
    config = complete(load_config_file("configs/demo.py"))
    settings = {
        "batch_size": 8, "num_training_steps": 4, "lr_configs.warmup_steps": 1,
        "log_summary_steps": 2, "log_eval_steps": 4, "checkpoint_steps": 4, "count_flops": False,
        "dataset_configs.synthetic.num_train_examples": 64,
        "dataset_configs.synthetic.num_validation_examples": 8,
        "dataset_configs.synthetic.num_test_examples": 8,
        "dataset_configs.do_multicrop_test": False,
    }
    settings.update(overrides)
    for key, value in settings.items():
        *parents, leaf = key.split(".")
        section = config
        for name in parents:
            section = section[name]
        section[leaf] = value
    return config


REFUSALS = {
    "heads": ({"model.num_heads": 3}, "model.num_heads=3 must divide model.hidden_size=64"),
    "init_from": ({"init_from.checkpoint_path": "/no/such/ViT-B_16.npz"},
                  "Checkpoint '/no/such/ViT-B_16.npz' does not exist"),
    "schedule": ({"lr_configs.steps_per_cycle": 2},
                 "config.lr_configs.steps_per_cycle=2 is shorter than the run"),
    "batch": ({"batch_size": 0}, "config.batch_size=0 must be a positive integer"),
    "learning_rate": ({"lr_configs.base_learning_rate": -0.1},
                      "config.lr_configs.base_learning_rate=-0.1 must be a positive number"),
    "no_token_in_time_token": (
        {"dataset_configs.num_frames": 1, "model.classifier": "token"},
        "model.patches.size[2]=2 (tubelet time) is longer than the clip"),
    "no_token_in_time_gap": (
        {"dataset_configs.num_frames": 1, "model.classifier": "gap"},
        "model.patches.size[2]=2 (tubelet time) is longer than the clip"),
    "patch_drops_pixels": (
        {"dataset_configs.crop_size": 28, "dataset_configs.min_resize": 28},
        "model.patches.size[0]=8 (patch height) does not divide dataset_configs.crop_size=28"),
}


def test_a_pretrained_checkpoint_that_does_not_fit_the_model_writes_nothing(tmp_path):
    from tests.pretrained.ckpt_layouts import random_vit, write_big_vision_npz

    vit = write_big_vision_npz(str(tmp_path / "vit_width16.npz"), random_vit())  # Width 16, not 64.
    workdir = tmp_path / "work"
    with pytest.raises(ValueError, match="vit_width16.npz"):
        trainer.train_and_evaluate(_config(**{"init_from.checkpoint_path": vit}), str(workdir))
    assert not workdir.exists()


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_refused_run_writes_nothing(tmp_path, name):
    overrides, message = REFUSALS[name]
    missing = tmp_path / "new_workdir"
    with pytest.raises(ValueError) as refused:
        trainer.train_and_evaluate(_config(**overrides), str(missing))
    assert message in str(refused.value)
    assert not missing.exists()

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("kept")
    with pytest.raises(ValueError):
        trainer.train_and_evaluate(_config(**overrides), str(existing))
    assert tree_digest(existing) == {"notes.txt": b"kept"}


def test_the_corrected_rerun_starts_fresh(tmp_path, caplog):
    with pytest.raises(ValueError):
        trainer.train_and_evaluate(_config(**{"model.num_heads": 3}), str(tmp_path))
    with caplog.at_level(logging.INFO):
        trainer.train_and_evaluate(_config(), str(tmp_path))
    assert "Training steps 0 -> 4" in caplog.text
    assert "Resumed" not in caplog.text and "config differs" not in caplog.text
    assert not list(tmp_path.glob("config.resumed_*.json"))
    assert (tmp_path / "checkpoints" / "4").is_dir()
    assert not (tmp_path / "vivit.lock").exists()  # Released at the end of the run.
