"""Tests for vivit.tasks.losses and vivit.tasks.metrics (merged and computed on the host by
vivit.train.metrics) on small hand-made and random batches."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vivit.config import default_config
from vivit.tasks import losses, metrics, task_for_config
from vivit.train import metrics as host_metrics
from vivit.train.optimizer import l2_penalty


def _random(shape, seed=0):
    return jax.random.normal(jax.random.key(seed), shape)


def test_softmax_cross_entropy_matches_optax_and_ignores_padding():
    logits = _random((4, 7))
    labels = jnp.array([0, 3, 6, 2])
    expected = optax.softmax_cross_entropy_with_integer_labels(logits[:3], labels[:3]).mean()
    weights = jnp.array([1.0, 1.0, 1.0, 0.0])
    assert float(losses.softmax_cross_entropy(logits, labels, weights)) == pytest.approx(
        float(expected), rel=1e-6)
    garbage = logits.at[3].set(1e3)
    assert float(losses.softmax_cross_entropy(garbage, labels, weights)) == pytest.approx(
        float(expected), rel=1e-6)


def test_label_smoothing_matches_scenic_definition():
    logits = _random((3, 5))
    labels = jnp.array([1, 0, 4])
    smoothed = jax.nn.one_hot(labels, 5) * 0.8 + 0.2 / 5
    expected = optax.softmax_cross_entropy(logits, smoothed).mean()
    assert float(losses.softmax_cross_entropy(logits, labels, label_smoothing=0.2)) == (
        pytest.approx(float(expected), rel=1e-6))
    soft = losses.softmax_cross_entropy(logits, jax.nn.one_hot(labels, 5))
    assert float(soft) == pytest.approx(float(losses.softmax_cross_entropy(logits, labels)))


def test_multihead_loss_is_mean_of_head_losses_and_checks_splits():
    logits = _random((4, 8))
    labels = jnp.array([[0, 1], [2, 4], [1, 0], [2, 3]])
    verb = losses.softmax_cross_entropy(logits[:, :3], labels[:, 0])
    noun = losses.softmax_cross_entropy(logits[:, 3:], labels[:, 1])
    ours = losses.multihead_softmax_cross_entropy(logits, labels, (3, 5))
    assert float(ours) == pytest.approx(float((verb + noun) / 2), rel=1e-6)
    with pytest.raises(ValueError, match="class_splits"):
        losses.multihead_softmax_cross_entropy(logits, labels, (3, 4))
    with pytest.raises(ValueError, match=r"\[batch, 2\]"):
        losses.multihead_softmax_cross_entropy(logits, labels[:, 0], (3, 5))


def test_sigmoid_cross_entropy_sums_classes_and_means_examples():
    logits = _random((3, 4))
    multi_hot = jnp.array([[1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0]], jnp.float32)
    expected = optax.sigmoid_binary_cross_entropy(logits, multi_hot).sum(-1).mean()
    assert float(losses.sigmoid_cross_entropy(logits, multi_hot)) == pytest.approx(
        float(expected), rel=1e-6)


def test_l2_penalty_and_loss_dispatch():
    params = {"a": jnp.full((2,), 2.0), "b": {"kernel": jnp.ones((3,))}}
    assert float(l2_penalty(params, 0.1)) == pytest.approx(0.5 * 0.1 * (8 + 3))
    assert float(l2_penalty(params, None)) == 0.0
    config = default_config()
    config.model_name = "vivit_multihead_classification"
    with pytest.raises(ValueError, match="class_splits"):
        task_for_config(config).loss
    config.model_name = "vivit_regression"
    with pytest.raises(ValueError, match="vivit_regression"):
        task_for_config(config).loss


def test_classification_metrics_by_hand():
    logits = jnp.array([[3.0, 1, 0, 0, 0, 0], [0, 3.0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]])
    labels = jnp.array([0, 2, 5])
    result = host_metrics.compute_metrics(metrics.classification_metrics(logits, labels))
    assert result["accuracy"] == pytest.approx(1 / 3)
    # Example 1 has label 2 in second place; example 2's label 5 ties with zeros at the tail.
    assert set(result) == {"loss", "accuracy", "accuracy_top_5"}
    few = metrics.classification_metrics(logits[:, :5], jnp.array([0, 2, 1]))
    assert "accuracy_top_5" not in few


def test_metrics_mask_and_merge_count_only_real_examples():
    logits = jnp.array([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    labels = jnp.array([0, 1, 1])
    first = metrics.classification_metrics(logits[:2], labels[:2], jnp.array([1.0, 0.0]))
    second = metrics.classification_metrics(logits[2:], labels[2:], jnp.array([1.0]))
    merged = host_metrics.merge_metrics(host_metrics.merge_metrics(None, first), second)
    assert host_metrics.compute_metrics(merged)["accuracy"] == pytest.approx(1.0)
    assert int(merged["accuracy"].count) == 2


def test_joint_accuracy_is_both_heads_right_and_top5_uses_outer_product():
    splits = (6, 7)
    logits = _random((64, 13), seed=1)
    labels = jnp.stack([jax.random.randint(jax.random.key(2), (64,), 0, 6),
                        jax.random.randint(jax.random.key(3), (64,), 0, 7)], axis=1)
    result = host_metrics.compute_metrics(
        metrics.multihead_metrics(logits, labels, None, splits, ["verb", "noun"]))
    both = (jnp.argmax(logits[:, :6], -1) == labels[:, 0]) & (
        jnp.argmax(logits[:, 6:], -1) == labels[:, 1])
    assert result["verb-noun_accuracy"] == pytest.approx(float(both.mean()))
    probs = np.einsum("bi,bj->bij", jax.nn.softmax(logits[:, :6]), jax.nn.softmax(logits[:, 6:]))
    flat = probs.reshape(64, -1)
    target = np.asarray(labels[:, 0] * 7 + labels[:, 1])
    top5 = np.argsort(-flat, axis=1)[:, :5]
    expected_top5 = np.mean([t in row for t, row in zip(target, top5)])
    assert result["verb-noun_accuracy_top_5"] == pytest.approx(expected_top5)
    for key in ["verb_accuracy", "noun_loss", "verb_accuracy_top_5", "total_loss"]:
        assert key in result
    with pytest.raises(ValueError, match="split_names"):
        metrics.multihead_metrics(logits, labels, None, splits, ["verb"])


def test_mean_average_precision_by_hand_and_accumulator():
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.7, 0.2], [0.1, 0.3]])
    labels = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    value, per_class = metrics.mean_average_precision(scores, labels)
    # Class 0: hits at ranks 1 and 3 -> (1 + 2/3) / 2; class 1: hit at rank 1 -> 1.
    assert per_class[0] == pytest.approx((1 + 2 / 3) / 2)
    assert per_class[1] == pytest.approx(1.0)
    assert value == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    # Over batches, jitted, padding masked out: the split's mAP and per-class AP, by name.
    step = jax.jit(metrics.average_precision)
    first = step(jnp.asarray(scores[:2]), jnp.asarray(labels[:2]), None)
    padded = np.concatenate([scores[2:], [[5.0, 5.0]]]), np.concatenate([labels[2:], [[0, 0]]])
    second = step(jnp.asarray(padded[0]), jnp.asarray(padded[1]), jnp.array([1, 1, 0]))
    merged = host_metrics.merge_metrics(host_metrics.merge_metrics(None, first), second)
    single = {"single_view_" + k: v for k, v in merged.items()}
    computed = host_metrics.compute_metrics({**merged, **single})
    assert computed["mAP"] == pytest.approx(value)
    assert computed["single_view_mAP"] == pytest.approx(value)
    assert computed["AP_0"] == pytest.approx(per_class[0])
    assert computed["single_view_AP_1"] == pytest.approx(1.0)


def test_metrics_work_inside_jit():
    config = default_config()
    fn = jax.jit(task_for_config(config).eval_metrics)
    result = host_metrics.compute_metrics(fn(_random((4, 10)), jnp.arange(4), jnp.ones(4)))
    assert 0.0 <= result["accuracy"] <= 1.0 and result["loss"] > 0


def test_soft_targets_for_mixup_round_trip_through_multihead_loss_and_metrics():
    labels = jnp.array([[0, 4], [2, 1]])
    soft = losses.soft_targets(labels, 8, class_splits=(3, 5))
    assert soft.shape == (2, 8)
    np.testing.assert_array_equal(soft[0], [1, 0, 0, 0, 0, 0, 0, 1])
    logits = _random((2, 8))
    assert float(losses.multihead_softmax_cross_entropy(logits, soft, (3, 5))) == pytest.approx(
        float(losses.multihead_softmax_cross_entropy(logits, labels, (3, 5))), rel=1e-6)
    from_soft = host_metrics.compute_metrics(metrics.multihead_metrics(logits, soft, None, (3, 5)))
    from_int = host_metrics.compute_metrics(metrics.multihead_metrics(logits, labels, None, (3, 5)))
    assert from_soft == pytest.approx(from_int)
    np.testing.assert_array_equal(losses.soft_targets(jnp.array([1]), 3), [[0, 1, 0]])
