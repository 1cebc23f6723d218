"""vivit.load_run: a trained run from its workdir alone (config, task, names, model, the
parameters of one step without the optimizer state), and its test-time prediction."""

from pathlib import Path

import jax
import numpy as np
import pytest

import trainer
import vivit
from vivit import workdir
from vivit.config import load_config
from vivit.run import RunError, load_run
from vivit.tasks import task_for_config
from vivit.train import checkpointing

NAMES = [f"motion_{i}" for i in range(10)]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A workdir as training leaves it: config.json, label names, steps 1 and 2 (step 1 the
    better by validation accuracy)."""
    root = tmp_path_factory.mktemp("run")
    config = load_config(str(REPO / "configs" / "demo.py"), ["model.num_layers=1", "model.hidden_size=16",
                                             "model.num_heads=2", "model.mlp_dim=32"])
    run = trainer.build_run(config, task_for_config(config), total_steps=600)
    first = run.create_state()
    second = first.replace(params=jax.tree.map(lambda x: x + 0.5, first.params))
    workdir.write_config(root, config)
    workdir.write_label_names(root, NAMES)
    saver = checkpointing.Checkpointer(root, save_every=1, max_to_keep=5)
    saver.save(1, first, metrics={"accuracy": 0.9})
    saver.save(2, second, metrics={"accuracy": 0.4})
    saver.close()
    return root, jax.device_get(first.params), jax.device_get(second.params)


def _same(a, b):
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(a), b)


def test_latest_best_and_a_named_step_load_their_parameters_only(saved_run):
    root, first, second = saved_run
    latest = vivit.load_run(root)
    assert latest.step == 2 and latest.label_names == NAMES
    _same(latest.params, second)
    assert set(latest.params) == set(first)  # parameters, no optimizer state
    best = load_run(root, "best")
    assert best.step == 1
    _same(best.params, first)
    assert load_run(root, 1).step == 1
    with pytest.raises(RunError, match=r"No checkpoint of step 7 .* it has steps \[1, 2\]"):
        load_run(root, 7)


def test_prediction_averages_the_runs_own_test_views(saved_run):
    root, _, _ = saved_run
    run = load_run(root)
    frames = np.random.default_rng(0).integers(0, 256, (40, 48, 64, 3), dtype=np.uint8)
    views = run.preprocess(frames)
    settings = run.clip_settings
    assert views.shape == (settings.views, settings.num_frames, settings.crop_size,
                           settings.crop_size, 3) and views.dtype == np.uint8
    prediction = run.predict(frames, top_k=3)
    mean_logits = run.logits(views).mean(axis=0)  # the demo averages logits over views
    expected = np.exp(mean_logits - mean_logits.max())
    expected /= expected.sum()
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=1e-5, atol=1e-6)
    best = int(np.argmax(expected))
    assert prediction.top[0] == (NAMES[best], pytest.approx(float(expected[best]), rel=1e-5))
    assert len(prediction.lines) == 3 and NAMES[best] in prediction.lines[0]
    with pytest.raises(ValueError, match="uint8 RGB"):
        run.predict(frames.astype(np.float32))


def test_a_damaged_newest_step_falls_back_and_a_non_run_is_one_error(saved_run, tmp_path):
    import shutil

    root, first, _ = saved_run
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    arrays = sorted((p for p in (copy / "checkpoints" / "2").rglob("*")
                     if p.is_file() and p.parent.name == "d"), key=lambda p: p.stat().st_size)
    arrays[-1].write_bytes(arrays[-1].read_bytes()[:100])
    run = load_run(copy)
    assert run.step == 1
    _same(run.params, first)
    with pytest.raises(RunError, match="has no config.json"):
        load_run(tmp_path / "nothing")
