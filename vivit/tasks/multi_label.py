"""Multi-label classification: any number of classes per video (multi-hot); sigmoid
cross-entropy summed over classes; prec@1 per batch, mAP and per-class AP over a split."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from vivit.tasks import losses, metrics
from vivit.tasks.base import (MULTI_HOT, MULTILABEL_THRESHOLD, OneHead, rank_lines,
                              ranked_pairs)


@dataclasses.dataclass(frozen=True)
class MultiLabel(OneHead):
    model_name: ClassVar[str] = "vivit_multilabel_classification"
    label_layout: ClassVar[str] = MULTI_HOT

    def targets(self, labels):
        return labels.astype(jnp.float32)

    def loss(self, logits, labels, weights=None):
        return losses.sigmoid_cross_entropy(logits, labels, weights, self.label_smoothing)

    def metrics(self, logits, labels, mask=None):
        return metrics.multilabel_metrics(logits, labels, mask)

    def eval_metrics(self, logits, labels, mask=None):
        result = dict(self.metrics(logits, labels, mask))
        result.update(metrics.average_precision(logits, labels, mask))
        return result

    @property
    def best_metric(self) -> str:
        return "mAP"

    def probabilities(self, logits):
        return jax.nn.sigmoid(logits.astype(jnp.float32))

    def to_logits(self, probabilities):
        return jax.scipy.special.logit(jnp.clip(probabilities, 1e-7, 1 - 1e-7))

    def describe(self, probabilities, names, top_k):
        above = int(np.sum(probabilities >= MULTILABEL_THRESHOLD))
        ranked = ranked_pairs(probabilities, names, above or top_k)
        lines = rank_lines(ranked)
        if not above:
            lines.insert(0, f"  (no class at or above {MULTILABEL_THRESHOLD}; top {len(ranked)})")
        return ranked, lines
