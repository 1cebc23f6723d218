"""What a run costs before it runs: clips through the model x GFLOPs per clip -> accelerator hours.

Training runs each clip forward and backward (about 3x a forward pass); validation once per
evaluation over the validation split; the final test every view of every test video. GFLOPs
count a multiply-add as one (the paper's unit), so FLOPs are twice that. Hours assume a peak
rate and a utilisation (model FLOPs utilisation), both stated wherever the numbers are shown.
"""

from __future__ import annotations

import dataclasses
import math

import ml_collections

# TPU v3: 123 TFLOP/s (bf16) per chip (2 cores), the paper's accelerator.
TPU_V3_CHIP_TFLOPS = 123.0
DEFAULT_UTILISATION = 0.4
TRAIN_PASS_FACTOR = 3  # forward + backward (~2x forward)


@dataclasses.dataclass(frozen=True)
class RunCost:
    train_clips: int
    validation_clips: int
    test_clips: int
    gflops_per_clip: float
    chip_tflops: float = TPU_V3_CHIP_TFLOPS
    utilisation: float = DEFAULT_UTILISATION

    @property
    def forward_clips(self) -> int:
        """Clips counted as forward passes (a training clip counts 3 times)."""
        return TRAIN_PASS_FACTOR * self.train_clips + self.validation_clips + self.test_clips

    @property
    def exaflops(self) -> float:
        """Total FLOPs (a multiply-add = 2) in units of 1e18."""
        return 2 * self.gflops_per_clip * 1e9 * self.forward_clips / 1e18

    @property
    def chip_hours(self) -> float:
        return self.exaflops * 1e18 / (self.chip_tflops * 1e12 * self.utilisation) / 3600


def run_cost(config: ml_collections.ConfigDict, gflops_per_clip: float,
             utilisation: float = DEFAULT_UTILISATION) -> RunCost:
    """The cost of training, validating and testing `config` (a complete config) once."""
    data = config.dataset_configs
    examples = data.examples_per_subset
    if not examples.train:
        raise ValueError("dataset_configs.examples_per_subset.train is not set: the cost of a "
                         "run needs the split sizes.")
    batch = int(config.batch_size)
    per_epoch = int(examples.train) // batch
    steps = int(config.num_training_steps or round(config.num_training_epochs * per_epoch))
    eval_every = int(config.log_eval_steps or per_epoch)
    evaluations = math.ceil(steps / eval_every)
    validation = int(examples.validation or 0)
    if config.get("steps_per_eval"):
        validation = min(validation, int(config.steps_per_eval) * int(config.eval_batch_size
                                                                        or batch))
    views = int(data.num_test_clips) * (3 if data.do_three_spatial_crops else 1)
    test = int(examples.test or 0) * views if data.do_multicrop_test else 0
    return RunCost(train_clips=steps * batch, validation_clips=evaluations * validation,
                   test_clips=test, gflops_per_clip=gflops_per_clip, utilisation=utilisation)


COST_HEADER = ("| Run | Train clips | Validation clips | Test clips (views) | GFLOPs/clip | "
               "EFLOPs | TPU-v3 chip-hours |\n|---|---|---|---|---|---|---|")


def cost_row(name: str, cost: RunCost) -> str:
    return (f"| {name} | {cost.train_clips:,} | {cost.validation_clips:,} | "
            f"{cost.test_clips:,} | {cost.gflops_per_clip:.1f} | {cost.exaflops:.1f} | "
            f"{cost.chip_hours:,.0f} |")
