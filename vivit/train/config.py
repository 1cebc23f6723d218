"""Declares the training-loop keys of the config (optimizer, schedule, batch, mesh, logging).

Names follow Scenic's ViViT trainer wherever Scenic has the key, so its configs carry over.
"""

from __future__ import annotations

import ml_collections


def _optimizer_configs() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {
            # 'momentum' (SGD, the paper's optimizer): momentum coefficient and Nesterov switch.
            "momentum": 0.9,
            "nesterov": False,
            # 'adam' / 'adamw': moment decay rates and the denominator's epsilon.
            "beta1": 0.9,
            "beta2": 0.999,
            "epsilon": 1e-8,
            # 'adamw' only: decoupled weight decay, multiplied by the learning rate, on kernels.
            "weight_decay": 1e-4,
        }
    )


def _lr_configs() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {
            # Only 'compound' exists (as in Scenic): the product of the factors below.
            "learning_rate_schedule": "compound",
            # '*'-separated factors: constant | linear_warmup | cosine_decay | linear_decay.
            "factors": "constant * cosine_decay * linear_warmup",
            # Peak learning rate ('constant' factor).
            "base_learning_rate": 0.1,
            # Linear warmup from warmup_alpha x peak to the peak, either over warmup_steps
            # optimizer updates (Scenic's key; wins when set) or over warmup_epochs epochs,
            # turned into steps at run time from batch_size and the training split's size, so
            # overriding batch_size or the epochs keeps the warmup at the same epochs. Neither
            # set: no warmup.
            "warmup_steps": None,
            "warmup_epochs": None,
            "warmup_alpha": 0.0,
            # Cosine decay length in steps, warmup included (None: the whole run, which follows
            # num_training_epochs and batch_size). Scenic's files set it from batch 64.
            "steps_per_cycle": None,
            # Cosine decay floor as a fraction of the peak.
            "alpha": 0.0,
            # 'linear_decay' factor: steps to reach end_learning_rate (None: the whole run).
            "total_steps": None,
            "end_learning_rate": 0.0,
        }
    )


def _mesh() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {
            # Device mesh ('data', 'fsdp'); the batch is split over both axes. -1 means "all the
            # devices the other axis leaves". fsdp=1 is plain data parallelism (replicated
            # parameters); fsdp=-1 (with data=-1) shards parameters and optimizer state over
            # every device (for ViViT-L/H); data=num_hosts, fsdp=devices_per_host shards within
            # each host and replicates across hosts.
            "data": -1,
            "fsdp": 1,
            # Parameters with fewer elements than this stay replicated even when fsdp > 1.
            "fsdp_min_size": 2**14,
        }
    )


def train_defaults() -> ml_collections.ConfigDict:
    """Top-level training keys at their defaults."""
    return ml_collections.ConfigDict(
        {
            # Accepted for Scenic configs; vivit has one trainer.
            "trainer_name": "vivit_trainer",
            # momentum (SGD) | adam | adamw.
            "optimizer": "momentum",
            "optimizer_configs": _optimizer_configs(),
            "lr_configs": _lr_configs(),
            # L2 penalty 0.5 * l2_decay_factor * sum(w**2) over all parameters, added to the loss.
            "l2_decay_factor": None,
            # Decoupled weight decay w -= lr * explicit_weight_decay * w on kernels, after the
            # optimizer update (Scenic's explicit_weight_decay); None disables it.
            "explicit_weight_decay": None,
            # Clip the gradient by global norm to this (None: no clipping).
            "max_grad_norm": 1.0,
            # Targets become (1 - s) * one_hot + s / num_classes (None or 0: off).
            "label_smoothing": None,
            # Mixup on device inside the train step; alpha of Beta(alpha, alpha), None/0: off.
            "mixup": ml_collections.ConfigDict({"alpha": None}),
            # Length of training: exactly one of the two must be set.
            "num_training_epochs": None,
            "num_training_steps": None,
            # Global batch sizes (summed over all processes); eval None means batch_size.
            "batch_size": 64,
            "eval_batch_size": None,
            # Sum gradients over this many micro-batches of batch_size before one update.
            "gradient_accumulation_steps": 1,
            "rng_seed": 0,
            "mesh": _mesh(),
            # Logging cadence in steps; log_eval_steps None means once per epoch.
            "log_summary_steps": 100,
            "log_eval_steps": None,
            # Validation batches per evaluation (None: the whole split).
            "steps_per_eval": None,
            # Test batches of each periodic multi-view test (dataset_configs.log_test_epochs);
            # None: the whole split. The test after the last step always uses the whole split.
            "steps_per_test": None,
            # Multi-view test: average softmax (True) or logits (False, the paper) over views.
            "multicrop_softmax_logits": False,
            # Views of each video run together in the multi-view test (more: faster, more memory).
            "multicrop_clips_per_device": 2,
            # Checkpointing: save every checkpoint_steps (None: every log_eval_steps), keep the
            # last max_checkpoints_to_keep plus the best one by best_checkpoint_metric.
            "checkpoint": True,
            "checkpoint_steps": None,
            "max_checkpoints_to_keep": 3,
            # Validation metric that picks the best checkpoint (higher is better); None: off.
            # 'auto': the task's (vivit.tasks): accuracy (vivit_classification), the joint
            # accuracy '<head>-<head>_accuracy' (multi-head), mAP (multi-label).
            "best_checkpoint_metric": "auto",
            "write_summary": True,
            # Log parameter count and GFLOPs at step 1.
            "count_flops": True,
            # Scenic debug switches: accepted so Scenic configs load; vivit has no debug mode and
            # ignores them.
            "debug_train": False,
            "debug_eval": False,
        }
    )
