"""When the training loop logs, evaluates, tests and checkpoints, resolved from the config."""

from __future__ import annotations

import dataclasses

import ml_collections

from vivit.train import optimizer as opt_lib


@dataclasses.dataclass(frozen=True)
class Cadence:
    """Step counts of one run; every '..._every' is a positive number of train steps."""

    total_steps: int
    steps_per_epoch: int
    summary_every: int
    eval_every: int
    checkpoint_every: int

    def due(self, step: int, every: int) -> bool:
        """True after train step `step` (1-based count) when `every` divides it, and at the end."""
        return step % every == 0 or step == self.total_steps


def loop_cadence(config: ml_collections.ConfigDict, num_train_examples: int) -> Cadence:
    """Resolves the defaults: evaluation once per epoch (Scenic), checkpoints at evaluations."""
    per_epoch = opt_lib.steps_per_epoch(config, num_train_examples)
    total = opt_lib.total_train_steps(config, num_train_examples)
    eval_every = config.get("log_eval_steps") or per_epoch
    checkpoint_every = config.get("checkpoint_steps") or eval_every
    summary_every = config.get("log_summary_steps") or eval_every
    for key, value in (("log_eval_steps", eval_every), ("checkpoint_steps", checkpoint_every),
                       ("log_summary_steps", summary_every)):
        if int(value) <= 0:
            raise ValueError(f"config.{key} must be positive, got {value}.")
    return Cadence(total, per_epoch, int(summary_every), int(eval_every), int(checkpoint_every))
