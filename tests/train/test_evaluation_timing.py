"""Tests for vivit.train.evaluation (masked sums over a split) and vivit.train.timing."""

import itertools

import numpy as np
import pytest

from tests.train.tiny_model import batch_for_step, tiny_config, tiny_training
from vivit.tasks import task_for_config
from vivit.train import evaluation, mesh as mesh_lib, step as step_lib
from vivit.train.timing import StepTimer


def test_evaluate_counts_only_real_videos_across_padded_batches():
    config = tiny_config()
    mesh = mesh_lib.build_mesh(config)
    model, _, state, shardings, _ = tiny_training(config, mesh, total_updates=8)
    eval_step = step_lib.jit_eval_step(
        step_lib.make_eval_step(model, task_for_config(tiny_config())), mesh, shardings)
    first, last = batch_for_step(0, 4), batch_for_step(1, 4)
    last["batch_mask"][2:] = 0.0  # The split has 6 videos: the last batch is padded by 2.
    result = evaluation.evaluate(eval_step, state, [first, last], mesh)
    assert result["num_examples"] == 6
    inputs = np.concatenate([first["inputs"], last["inputs"][:2]])
    labels = np.concatenate([first["label"], last["label"][:2]])
    logits = model.apply({"params": state.params}, inputs)
    assert result["accuracy"] == pytest.approx(np.mean(np.argmax(logits, -1) == labels))
    limited = evaluation.evaluate(eval_step, state, itertools.repeat(first), mesh, max_batches=3)
    assert limited["num_examples"] == 12
    with pytest.raises(ValueError, match="no batches"):
        evaluation.evaluate(eval_step, state, [], mesh)


def test_step_timer_splits_wait_and_compute_and_warns_when_input_bound(caplog):
    now = [0.0]
    timer = StepTimer(bottleneck_fraction=0.2, clock=lambda: now[0])
    for _ in range(2):
        now[0] += 0.5   # Waiting for the batch.
        timer.data_ready()
        now[0] += 1.5   # Computing.
        timer.step_done()
    with caplog.at_level("WARNING"):
        summary = timer.summary(clips_per_step=8)
    assert summary["data_wait_seconds"] == pytest.approx(0.5)
    assert summary["compute_seconds"] == pytest.approx(1.5)
    assert summary["clips_per_second"] == pytest.approx(4.0)
    assert "bottleneck" in caplog.text
    assert timer.summary(clips_per_step=8) == {}


def test_time_between_steps_counts_as_neither_wait_nor_compute(caplog):
    now = [0.0]
    timer = StepTimer(bottleneck_fraction=0.2, clock=lambda: now[0])
    for _ in range(2):
        now[0] += 30.0  # An evaluation and a checkpoint after the previous step.
        timer.begin_step()
        now[0] += 0.1   # Waiting for the batch.
        timer.data_ready()
        now[0] += 0.9   # Computing.
        timer.step_done()
    with caplog.at_level("WARNING"):
        summary = timer.summary(clips_per_step=8)
    assert summary["data_wait_seconds"] == pytest.approx(0.1)
    assert summary["step_seconds"] == pytest.approx(1.0)
    assert "bottleneck" not in caplog.text
