"""Evaluation metrics with Scenic's names, as clu `Average`s that merge across batches and hosts.

Inside a jitted step each function returns {name: clu.metrics.Average} computed on the (global)
batch, masked by batch_mask so padding never counts; the host merges these over batches and
turns them into floats (`vivit.train.metrics`). Mean average precision needs every score of the
split, so `AveragePrecision` collects scores and labels over the split on the host (a clu
`CollectingMetric`). Which of these a run reports is its task's choice.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import flax
import numpy as np
import optax
from clu import metrics as clu_metrics

from vivit.tasks import losses

Metrics = dict[str, clu_metrics.Metric]
MetricsFn = Callable[[jax.Array, jax.Array, "jax.Array | None"], Metrics]


def _mask(mask: jax.Array | None, batch: int) -> jax.Array:
    return jnp.ones((batch,), bool) if mask is None else mask > 0


def _hard_labels(labels: jax.Array) -> jax.Array:
    """Integer labels; soft targets (mixup, one-hot) are reduced to their argmax."""
    if jnp.issubdtype(labels.dtype, jnp.integer):
        return labels
    return jnp.argmax(labels, axis=-1)


def _top_k_correct(scores: jax.Array, labels: jax.Array, k: int) -> jax.Array:
    _, top = jax.lax.top_k(scores, k)
    return jnp.any(top == labels[:, None], axis=-1).astype(jnp.float32)


def _average(values: jax.Array, mask: jax.Array) -> clu_metrics.Average:
    return clu_metrics.Average.from_model_output(values.astype(jnp.float32), mask=mask)


def _per_example_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    targets = losses.to_soft_targets(labels, logits.shape[-1])
    return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)


def classification_metrics(
    logits: jax.Array, labels: jax.Array, mask: jax.Array | None = None, prefix: str = ""
) -> Metrics:
    """loss, accuracy and (only with more than 5 classes, as in Scenic) accuracy_top_5."""
    mask = _mask(mask, logits.shape[0])
    hard = _hard_labels(labels)
    result = {
        f"{prefix}loss": _average(_per_example_cross_entropy(logits, labels), mask),
        f"{prefix}accuracy": _average(jnp.argmax(logits, axis=-1) == hard, mask),
    }
    if logits.shape[-1] > 5:
        result[f"{prefix}accuracy_top_5"] = _average(_top_k_correct(logits, hard, 5), mask)
    return result


def head_names(class_splits: Sequence[int], split_names: Sequence[str] | None) -> list[str]:
    """Names of the heads: dataset_configs.split_names, else head_0, head_1, ..."""
    if split_names is None:
        return [f"head_{i}" for i in range(len(class_splits))]
    if len(split_names) != len(class_splits):
        raise ValueError(
            f"dataset_configs.split_names={list(split_names)} must name each of the "
            f"{len(class_splits)} heads in dataset_configs.class_splits."
        )
    return list(split_names)


def joint_probabilities(head_logits: Sequence[jax.Array]) -> jax.Array:
    """Outer product of the heads' softmaxes, flattened: [batch, prod(classes per head)]."""
    joint = jax.nn.softmax(head_logits[0].astype(jnp.float32), axis=-1)
    for logits in head_logits[1:]:
        probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
        joint = (joint[:, :, None] * probs[:, None, :]).reshape(joint.shape[0], -1)
    return joint


def multihead_metrics(
    logits: jax.Array,
    labels: jax.Array,
    mask: jax.Array | None,
    class_splits: Sequence[int],
    split_names: Sequence[str] | None = None,
) -> Metrics:
    """Per-head metrics ('noun_accuracy', ...), 'total_loss', and the joint (action) accuracy.

    The joint prediction is the argmax over the outer product of the head softmaxes (Scenic's
    'noun-verb_accuracy'); its top-5 is reported when every head has more than 5 classes.
    """
    names = head_names(class_splits, split_names)
    mask = _mask(mask, logits.shape[0])
    per_head_logits = losses.split_heads(logits, class_splits)
    per_head_labels = [_hard_labels(t) for t in losses.head_targets(labels, class_splits)]
    result: Metrics = {}
    total_loss = jnp.zeros((logits.shape[0],), jnp.float32)
    for name, head_logits, head_labels in zip(names, per_head_logits, per_head_labels):
        result.update(classification_metrics(head_logits, head_labels, mask, prefix=f"{name}_"))
        total_loss = total_loss + _per_example_cross_entropy(head_logits, head_labels)
    result["total_loss"] = _average(total_loss / len(names), mask)
    joint = joint_probabilities(per_head_logits)
    joint_label = jnp.ravel_multi_index(
        tuple(per_head_labels), tuple(int(c) for c in class_splits), mode="clip")
    joint_name = "-".join(names)
    result[f"{joint_name}_accuracy"] = _average(jnp.argmax(joint, axis=-1) == joint_label, mask)
    if all(c > 5 for c in class_splits):
        result[f"{joint_name}_accuracy_top_5"] = _average(
            _top_k_correct(joint, joint_label, 5), mask)
    return result


def multilabel_metrics(
    logits: jax.Array, multi_hot: jax.Array, mask: jax.Array | None = None
) -> Metrics:
    """Sigmoid loss and prec@1 (is the top-scoring class one of the true labels), per batch;
    the split's mAP is `AveragePrecision`, which needs every score of the split."""
    mask = _mask(mask, logits.shape[0])
    multi_hot = multi_hot.astype(jnp.float32)
    per_class = optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32), multi_hot)
    top1 = jnp.argmax(logits, axis=-1)
    hit = jnp.take_along_axis(multi_hot, top1[:, None], axis=-1)[:, 0] > 0
    return {"loss": _average(per_class.sum(-1), mask), "prec@1": _average(hit, mask)}


def mean_average_precision(
    scores: np.ndarray, multi_hot: np.ndarray, mask: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """(mAP, per-class AP): AP = mean precision at each true positive, ranked by score.

    Classes with no positive example in the split have AP NaN and are left out of the mean.
    """
    scores, multi_hot = np.asarray(scores, np.float64), np.asarray(multi_hot) > 0
    if mask is not None:
        keep = np.asarray(mask) > 0
        scores, multi_hot = scores[keep], multi_hot[keep]
    per_class = np.full(scores.shape[1], np.nan)
    for c in range(scores.shape[1]):
        positives = multi_hot[:, c]
        if not positives.any():
            continue
        order = np.argsort(-scores[:, c], kind="stable")
        hits = positives[order]
        precision_at_hit = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
        per_class[c] = precision_at_hit.mean()
    valid = ~np.isnan(per_class)
    return (float(per_class[valid].mean()) if valid.any() else float("nan")), per_class


@flax.struct.dataclass
class AveragePrecision(clu_metrics.CollectingMetric.from_outputs(("scores", "labels", "mask"))):
    """Multi-label scores and labels collected over a whole split (merged on the host), then
    'mAP' and 'AP_<class>' for every class with a positive example; padding is dropped."""

    def compute(self) -> dict[str, float]:
        values = super().compute()
        value, per_class = mean_average_precision(
            values["scores"], values["labels"], values["mask"])
        result = {"mAP": value}
        result.update({f"AP_{c}": ap for c, ap in enumerate(per_class) if not np.isnan(ap)})
        return result


def average_precision(
    logits: jax.Array, multi_hot: jax.Array, mask: jax.Array | None = None
) -> dict[str, AveragePrecision]:
    """{'mAP': AveragePrecision} of one batch, to merge over the split (then
    `vivit.train.metrics.compute_metrics`)."""
    mask = _mask(mask, logits.shape[0])
    return {"mAP": AveragePrecision.from_model_output(
        scores=logits.astype(jnp.float32), labels=multi_hot, mask=mask)}
