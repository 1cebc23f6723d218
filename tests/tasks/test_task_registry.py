"""A new task is one class and one `register_task` call: no existing module is edited."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.documented_example import marked_example, shown_in_docs
from tests.models.tiny import CLIP_SHAPE, NUM_CLASSES, tiny_config
from vivit.models import build_model
from vivit.tasks import TASKS, task_for_config
from vivit.train import mesh as mesh_lib, optimizer as opt_lib
from vivit.train import state as state_lib, step as step_lib

# --- The worked example of docs/architecture.md ("Adding a task"). ---
import dataclasses
from typing import ClassVar

from vivit.tasks import SingleLabel, register_task
from vivit.tasks.losses import to_soft_targets, weighted_mean


@dataclasses.dataclass(frozen=True)
class FocalSingleLabel(SingleLabel):
    """One class per video, trained with a focal loss that down-weights the easy examples;
    metrics, view averaging and predictions are SingleLabel's."""

    model_name: ClassVar[str] = "vivit_focal_classification"
    gamma: ClassVar[float] = 2.0

    def loss(self, logits, labels, weights=None):
        targets = to_soft_targets(labels, self.num_outputs)
        per_class = optax.sigmoid_focal_loss(logits.astype(jnp.float32), targets,
                                             gamma=self.gamma)
        return weighted_mean(per_class.sum(axis=-1), weights)
# --- End of the example; then register_task(FocalSingleLabel). ---


@pytest.fixture
def focal_config():
    register_task(FocalSingleLabel)
    config = tiny_config()
    config.model_name = "vivit_focal_classification"
    yield config
    del TASKS["vivit_focal_classification"]


def test_a_registered_task_trains_with_its_own_loss(focal_config):
    task = task_for_config(focal_config)
    assert isinstance(task, FocalSingleLabel) and task.num_outputs == NUM_CLASSES
    model = build_model(focal_config, task)
    optimizer, schedule = opt_lib.build_optimizer(focal_config, total_updates=10)
    mesh = mesh_lib.build_mesh(focal_config)
    _, shardings, create = state_lib.plan_train_state(
        model, optimizer, (1,) + CLIP_SHAPE[1:], jax.random.PRNGKey(0), mesh)
    state = create()
    rng = np.random.default_rng(0)
    batch = {"inputs": rng.integers(0, 256, CLIP_SHAPE, dtype=np.uint8),
             "label": np.array([1, 5], np.int32), "batch_mask": np.ones(2, np.float32)}
    step = jax.jit(step_lib.make_train_step(model, optimizer, task, schedule))
    _, metrics, finite = step(state, batch)
    assert bool(finite)
    # The optimised loss is the focal loss, computed by hand from the same logits.
    logits = model.apply({"params": state.params}, batch["inputs"] / 127.5 - 1.0, train=False)
    probability = jax.nn.sigmoid(logits)
    target = np.eye(NUM_CLASSES)[batch["label"]]
    p_true = np.where(target == 1, probability, 1 - probability)
    by_hand = np.mean(np.sum(-(1 - p_true) ** 2 * np.log(p_true), axis=-1))
    assert float(metrics["training_loss"].compute()) == pytest.approx(by_hand, rel=1e-4)
    assert "accuracy" in metrics  # SingleLabel's metrics


def test_a_task_name_is_registered_once(focal_config):
    with pytest.raises(ValueError, match="Task 'vivit_focal_classification' is already"):
        register_task(FocalSingleLabel)


def test_the_documented_example_is_this_file():
    """docs/architecture.md shows the example above; keep the two the same code."""
    shown = shown_in_docs("Tasks")
    assert marked_example(__file__) in shown
    assert 'register_task(FocalSingleLabel)' in shown
