"""Multi-head classification: one class per head (Epic Kitchens' verb and noun), the mean of the
heads' cross-entropies, per-head metrics and the joint accuracy ('verb-noun_accuracy', Scenic's
name) over the outer product of the heads' softmaxes."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import ml_collections

from vivit.tasks import losses, metrics
from vivit.tasks.base import PER_HEAD, Task, rank_lines, ranked_pairs, smoothing


@dataclasses.dataclass(frozen=True)
class MultiHead(Task):
    class_splits: tuple[int, ...] = ()
    head_names: tuple[str, ...] = ()

    model_name: ClassVar[str] = "vivit_multihead_classification"
    label_layout: ClassVar[str] = PER_HEAD

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "MultiHead":
        data = config.dataset_configs
        if not data.get("class_splits"):
            raise ValueError(
                "model_name='vivit_multihead_classification' needs dataset_configs.class_splits "
                "(classes per head, e.g. [97, 300] for Epic Kitchens verb/noun).")
        splits = tuple(data.class_splits)
        if not all(isinstance(n, int) and n > 0 for n in splits):
            raise ValueError(f"dataset_configs.class_splits={splits} must be positive integers.")
        names = data.get("split_names")
        if names is not None and len(names) != len(splits):
            raise ValueError(
                f"dataset_configs.split_names has {len(names)} names for {len(splits)} "
                "class_splits.")
        return cls(label_smoothing=smoothing(config), class_splits=splits,
                   head_names=tuple(metrics.head_names(splits, names)))

    @property
    def num_outputs(self) -> int:
        return int(sum(self.class_splits))

    @property
    def joint_name(self) -> str:
        """Scenic's name of the joint (action) prediction: the head names joined by '-'."""
        return "-".join(self.head_names)

    def targets(self, labels):
        return losses.soft_targets(labels, self.num_outputs, self.class_splits)

    def loss(self, logits, labels, weights=None):
        return losses.multihead_softmax_cross_entropy(
            logits, labels, self.class_splits, weights, self.label_smoothing)

    def metrics(self, logits, labels, mask=None):
        return metrics.multihead_metrics(logits, labels, mask, self.class_splits,
                                             self.head_names)

    @property
    def best_metric(self) -> str:
        return f"{self.joint_name}_accuracy"

    def probabilities(self, logits):
        heads = losses.split_heads(logits.astype(jnp.float32), self.class_splits)
        return jnp.concatenate([jax.nn.softmax(h, axis=-1) for h in heads], axis=-1)

    def output_names(self, names):
        if names and len(names) == self.num_outputs:
            return list(names)
        return [f"{head}_{i}" for head, count in zip(self.head_names, self.class_splits)
                for i in range(count)]

    def describe(self, probabilities, names, top_k):
        lines, ranked_all, start = [], [], 0
        for head, count in zip(self.head_names, self.class_splits):
            ranked = ranked_pairs(probabilities[start:start + count], names[start:start + count],
                             min(top_k, count))
            lines.append(f"  {head}:")
            lines.extend(rank_lines(ranked, indent="    "))
            ranked_all.extend(ranked)
            start += count
        return ranked_all, lines
