"""Tests for vivit.train.checkpointing: keep/best policy, resume, config diff, leftovers of an
interrupted save, bad workdirs."""

import json

import jax
import numpy as np
import pytest

from tests.train.tiny_model import tiny_config, tiny_state
from vivit import workdir as workdir_lib
from vivit.train import checkpointing



def test_keeps_last_k_plus_best_and_restores_latest(tmp_path):
    state, abstract = tiny_state()
    checkpointer = checkpointing.Checkpointer(tmp_path, save_every=2, max_to_keep=2)
    saved = []
    for step in range(1, 9):
        state = state.replace(step=state.step + 1,
                              params=jax.tree.map(lambda p: p + 1.0, state.params))
        validation = {"accuracy": 0.9} if step == 3 else ({"accuracy": 0.5} if step == 5 else None)
        saved.append(checkpointer.save(step, state, metrics=validation,
                                       force=validation is not None))
    checkpointer.wait()
    assert saved == [False, True, True, True, True, True, False, True]
    assert checkpointer.all_steps() == [3, 6, 8]
    assert checkpointer.best_step() == 3 and checkpointer.latest_step() == 8
    assert not checkpointer.save(8, state, force=True)  # An existing step is never rewritten.
    checkpointer.close()

    reopened = checkpointing.Checkpointer(tmp_path, save_every=2, max_to_keep=2)
    restored = reopened.restore(abstract)
    assert int(restored.step) == 8
    jax.tree.map(np.testing.assert_array_equal, restored.params, state.params)
    assert restored.params["Dense_0"]["kernel"].sharding == abstract.params["Dense_0"]["kernel"].sharding
    best = reopened.restore(abstract, step=3)
    assert int(best.step) == 3
    with pytest.raises(KeyError, match="best_checkpoint_metric"):
        reopened.save(10, state, metrics={"loss": 1.0}, force=True)
    reopened.close()


def test_empty_workdir_restores_nothing_and_ignores_interrupted_save_leftovers(tmp_path):
    state, abstract = tiny_state()
    checkpointer = checkpointing.Checkpointer(tmp_path, save_every=1, max_to_keep=3)
    assert checkpointer.restore(abstract) is None
    checkpointer.save(1, state)
    checkpointer.close()
    # What a save killed half-way leaves: a temporary directory Orbax never renamed.
    leftover = tmp_path / "checkpoints" / "2.orbax-checkpoint-tmp-1700000000000000"
    (leftover / "state").mkdir(parents=True)
    (leftover / "state" / "partial").write_bytes(b"\0" * 10)
    reopened = checkpointing.Checkpointer(tmp_path, save_every=1, max_to_keep=3)
    assert reopened.latest_step() == 1
    assert int(reopened.restore(abstract).step) == int(state.step)
    reopened.close()
    assert not leftover.exists()


def test_config_written_once_and_resumed_difference_warns(tmp_path, caplog):
    config = tiny_config()
    assert workdir_lib.write_config(tmp_path, config) == []
    original = (tmp_path / "config.json").read_text()
    assert json.loads(original)["batch_size"] == 16
    assert workdir_lib.write_config(tmp_path, config) == []
    changed = tiny_config(batch_size=32)
    with caplog.at_level("WARNING"):
        differences = workdir_lib.write_config(tmp_path, changed)
    assert differences == ["batch_size: 16 -> 32"]
    assert "batch_size: 16 -> 32" in caplog.text
    assert (tmp_path / "config.json").read_text() == original
    assert json.loads((tmp_path / "config.resumed_1.json").read_text())["batch_size"] == 32


def test_unwritable_workdir_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(PermissionError, match="file/workdir"):
        workdir_lib.ensure_writable(blocker / "workdir")
    with pytest.raises(ValueError, match="checkpoint_steps"):
        checkpointing.Checkpointer(tmp_path / "w", save_every=0, max_to_keep=1)



# SIGTERM / SIGKILL resume of a whole run is tested through main.py in
# tests/trainer/test_resume_and_devices.py.


def test_resuming_with_the_other_block_layout_says_so(tmp_path):
    """A run saves in its model's layout; resuming with model.scan_layers flipped is refused
    with the way out, not called a shape mismatch or corruption."""
    per_layer = {"params": {"Transformer": {f"encoderblock_{i}": {"scale": np.ones(4, np.float32)}
                                            for i in range(2)}}}
    stacked = {"params": {"Transformer": {"encoderblock": {
        "scale": jax.ShapeDtypeStruct((2, 4), np.float32)}}}}
    checkpointer = checkpointing.Checkpointer(tmp_path, save_every=1, max_to_keep=2)
    checkpointer.save(1, per_layer, force=True)
    checkpointer.wait()
    with pytest.raises(ValueError, match="encoder blocks are per-layer and this config's are "
                                         "stacked \\(model.scan_layers differs\\)"):
        checkpointer.restore_newest_intact(stacked)
    checkpointer.close()
