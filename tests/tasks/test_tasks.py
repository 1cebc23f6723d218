"""vivit.tasks: one Task per model_name, and nothing outside it compares model_name strings."""

import ast
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vivit import tasks
from vivit.config import default_config
from vivit.train import metrics

REPO = Path(__file__).resolve().parents[2]


def _config(model_name, **data):
    config = default_config()
    config.model_name = model_name
    config.dataset_configs.update(data)
    return config


def test_registry_has_one_task_per_model_name_and_names_unknown_ones():
    assert set(tasks.TASKS) == {"vivit_classification", "vivit_multihead_classification",
                                "vivit_multilabel_classification", "cvt_classification"}
    with pytest.raises(ValueError, match="model_name='vivit_regression' is not supported"):
        tasks.task_for_config(_config("vivit_regression"))


def test_no_model_name_comparisons_outside_the_task_module():
    sources = [REPO / "trainer.py", REPO / "main.py", *sorted((REPO / "vivit").rglob("*.py"))]
    # config.model_name == ..., config.get("model_name") != ..., ... in / == x.model_name
    compared = re.compile(r"(\.model_name|get\(\"model_name\"\))\s*(==|!=|not in\b|in\b)|"
                          r"(==|!=|\bin)\s*[\w.]*\.model_name\b")
    offenders = [f"{path.relative_to(REPO)}:{number}"
                 for path in sources if "tasks" not in path.relative_to(REPO).parts
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if compared.search(line)]
    assert offenders == []


# Where a run is set up from its config: the task is built there once and handed down.
RUN_SET_UP = {"trainer.py", "main.py", "vivit/flops.py", "vivit/export.py", "vivit/run.py",
              "vivit/sweep/report.py", "vivit/sweep/__main__.py", "vivit/tasks/__init__.py"}


def test_the_task_is_built_only_where_a_run_is_set_up():
    """Data, models, steps and checkpoints receive the task; none of them rebuilds it from the
    config (module-level or function-level calls alike)."""
    sources = [REPO / "trainer.py", REPO / "main.py", *sorted((REPO / "vivit").rglob("*.py"))]

    def calls_it(path: Path) -> bool:
        return any(isinstance(node, ast.Call) and getattr(
            node.func, "id", getattr(node.func, "attr", None)) == "task_for_config"
            for node in ast.walk(ast.parse(path.read_text())))

    callers = {str(path.relative_to(REPO)) for path in sources if calls_it(path)}
    assert callers - RUN_SET_UP == set()
    assert "trainer.py" in callers  # the check looks where it should


def test_default_best_checkpoint_metric_is_the_tasks_headline():
    single = _config("vivit_classification", num_classes=3)
    assert single.best_checkpoint_metric == "auto"
    assert tasks.best_checkpoint_metric(single, tasks.task_for_config(single)) == "accuracy"
    head = _config("vivit_multihead_classification", class_splits=[4, 2],
                   split_names=["direction", "speed"])
    assert (tasks.best_checkpoint_metric(head, tasks.task_for_config(head))
            == "direction-speed_accuracy")
    label = _config("vivit_multilabel_classification", num_classes=3)
    assert tasks.best_checkpoint_metric(label, tasks.task_for_config(label)) == "mAP"
    label.best_checkpoint_metric = None  # off
    assert tasks.best_checkpoint_metric(label, tasks.task_for_config(label)) is None
    label.best_checkpoint_metric = "loss"
    assert tasks.best_checkpoint_metric(label, tasks.task_for_config(label)) == "loss"


@pytest.mark.parametrize("name,data,metric", [
    ("vivit_classification", dict(num_classes=7), "accuracy"),
    ("vivit_multihead_classification", dict(class_splits=[3, 4]), "head_0-head_1_accuracy"),
    ("vivit_multilabel_classification", dict(num_classes=7), "mAP"),
])
def test_each_tasks_validation_metrics_hold_its_best_metric(name, data, metric):
    """The KeyError at the first checkpoint of a multi-head / multi-label run: the default best
    metric is always among what validation reports."""
    task = tasks.task_for_config(_config(name, **data))
    logits = jax.random.normal(jax.random.key(0), (6, 7))
    if name == "vivit_multihead_classification":
        labels = jnp.array([[0, 1], [1, 2], [2, 3], [0, 0], [1, 1], [2, 2]])
    elif name == "vivit_multilabel_classification":
        labels = jnp.asarray(np.eye(7, dtype=np.float32)[:6] + np.eye(7, k=1, dtype=np.float32)[:6])
    else:
        labels = jnp.arange(6)
    values = metrics.compute_metrics(jax.jit(task.eval_metrics)(logits, labels, jnp.ones(6)))
    assert metric in values and 0 <= values[metric] <= 1
    assert task.num_outputs == 7
    assert float(task.loss(logits, labels, None)) > 0
    assert task.targets(labels).shape == (6, 7)


def test_multilabel_mAP_over_a_split_matches_the_ranking_by_hand():
    task = tasks.task_for_config(_config("vivit_multilabel_classification", num_classes=2))
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.7, 0.2], [0.1, 0.3]])
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 0]], np.float32)
    total = None
    for rows in (slice(0, 2), slice(2, 4)):
        total = metrics.merge_metrics(total, task.eval_metrics(
            jnp.asarray(scores[rows]), jnp.asarray(labels[rows]), jnp.ones(2)))
    values = metrics.compute_metrics(total)
    assert values["mAP"] == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    assert values["AP_0"] == pytest.approx((1 + 2 / 3) / 2) and values["AP_1"] == 1.0


def test_losses_use_optax_and_keep_their_values():
    logits = jax.random.normal(jax.random.key(1), (4, 5))
    labels = jnp.array([0, 4, 2, 1])
    single = tasks.task_for_config(_config("vivit_classification", num_classes=5))
    smoothed = tasks.task_for_config(_smoothed_config(0.1))
    by_hand = -jnp.sum((jax.nn.one_hot(labels, 5) * 0.9 + 0.02) * jax.nn.log_softmax(logits), -1)
    assert float(smoothed.loss(logits, labels)) == pytest.approx(float(by_hand.mean()), rel=1e-6)
    assert float(single.loss(logits, labels)) == pytest.approx(float(
        -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1).mean()), rel=1e-6)
    multi_hot = jnp.array([[1, 0, 0, 1, 0]] * 4, jnp.float32)
    label = tasks.task_for_config(_config("vivit_multilabel_classification", num_classes=5))
    p = jax.nn.sigmoid(logits)
    bce = -(multi_hot * jnp.log(p) + (1 - multi_hot) * jnp.log(1 - p)).sum(-1).mean()
    assert float(label.loss(logits, multi_hot)) == pytest.approx(float(bce), rel=1e-5)


def _smoothed_config(smoothing):
    config = _config("vivit_classification", num_classes=5)
    config.label_smoothing = smoothing
    return config


def test_views_average_per_task():
    per_view = jax.random.normal(jax.random.key(2), (3, 2, 6))  # [views, batch, outputs]
    head = tasks.task_for_config(_config("vivit_multihead_classification", class_splits=[4, 2]))
    averaged = head.probabilities(head.average_views(per_view, True))
    expected = jnp.concatenate([jax.nn.softmax(per_view[..., :4], -1).mean(0),
                                jax.nn.softmax(per_view[..., 4:], -1).mean(0)], -1)
    np.testing.assert_allclose(averaged, expected, rtol=1e-5)
    label = tasks.task_for_config(_config("vivit_multilabel_classification", num_classes=6))
    averaged = label.probabilities(label.average_views(per_view, True))
    np.testing.assert_allclose(averaged, jax.nn.sigmoid(per_view).mean(0), rtol=1e-4)
    single = tasks.task_for_config(_config("vivit_classification", num_classes=6))
    np.testing.assert_allclose(single.average_views(per_view, False), per_view.mean(0))


def test_predictions_print_per_head_and_above_threshold():
    head = tasks.task_for_config(_config("vivit_multihead_classification", class_splits=[4, 2],
                                         split_names=["direction", "speed"]))
    names = head.output_names(["right", "left", "down", "up", "slow", "fast"])
    ranked, lines = head.describe(np.array([0.1, 0.7, 0.15, 0.05, 0.2, 0.8]), names, top_k=3)
    assert lines[0] == "  direction:" and lines[4] == "  speed:"
    assert lines[1].split() == ["1.", "left", "0.7000"]
    assert lines[5].split() == ["1.", "fast", "0.8000"] and len(lines) == 1 + 3 + 1 + 2
    assert head.output_names(None)[4] == "speed_0"
    label = tasks.task_for_config(_config("vivit_multilabel_classification", num_classes=4))
    names = label.output_names(None)
    ranked, lines = label.describe(np.array([0.9, 0.2, 0.6, 0.4]), names, top_k=3)
    assert ranked == [("class_0", pytest.approx(0.9)), ("class_2", pytest.approx(0.6))]
    assert [line.split()[1] for line in lines] == ["class_0", "class_2"]
    ranked, lines = label.describe(np.array([0.1, 0.2, 0.3, 0.4]), names, top_k=2)
    assert "no class at or above 0.5" in lines[0] and [n for n, _ in ranked] == ["class_3",
                                                                                  "class_2"]


def test_output_width_checks_name_the_key():
    with pytest.raises(ValueError, match="dataset_configs.class_splits"):
        tasks.task_for_config(_config("vivit_multihead_classification"))
    with pytest.raises(ValueError, match="split_names has 1 names for 2"):
        tasks.task_for_config(_config("vivit_multihead_classification", class_splits=[2, 3],
                                      split_names=["verb"]))
    with pytest.raises(ValueError, match="dataset_configs.num_classes must be a positive"):
        _ = tasks.task_for_config(_config("vivit_multilabel_classification")).num_outputs
