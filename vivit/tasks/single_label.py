"""Single-label classification: one class per video (softmax cross-entropy; loss, accuracy,
accuracy_top_5), and the same for images (CvT as an image classifier)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from vivit.tasks import losses, metrics
from vivit.tasks.base import IMAGE, INDEX, OneHead, rank_lines, ranked_pairs


@dataclasses.dataclass(frozen=True)
class SingleLabel(OneHead):
    model_name: ClassVar[str] = "vivit_classification"
    label_layout: ClassVar[str] = INDEX

    def targets(self, labels: jax.Array) -> jax.Array:
        return losses.to_soft_targets(labels, self.num_outputs)

    def loss(self, logits, labels, weights=None):
        return losses.softmax_cross_entropy(logits, labels, weights, self.label_smoothing)

    def metrics(self, logits, labels, mask=None):
        return metrics.classification_metrics(logits, labels, mask)

    @property
    def best_metric(self) -> str:
        return "accuracy"

    def probabilities(self, logits):
        return jax.nn.softmax(logits.astype(jnp.float32), axis=-1)

    def describe(self, probabilities, names, top_k):
        ranked = ranked_pairs(probabilities, names, top_k)
        return ranked, rank_lines(ranked)


@dataclasses.dataclass(frozen=True)
class ImageClassification(SingleLabel):
    """CvT as an image classifier (`model.variant`): single-label, on images."""

    model_name: ClassVar[str] = "cvt_classification"
    inputs: ClassVar[str] = IMAGE
