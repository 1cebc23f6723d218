"""A tiny flax video classifier with dropout, standing in for ViViT in trainer tests."""

import flax.linen as nn
import numpy as np

from vivit.config import apply_overrides, default_config

INPUT_SHAPE = (2, 4, 4, 3)  # [time, height, width, channels]
NUM_CLASSES = 6


class TinyVideoClassifier(nn.Module):
    num_classes: int = NUM_CLASSES
    hidden: int = 32

    @nn.compact
    def __call__(self, video, train: bool = False):
        x = video.reshape(video.shape[0], -1)  # [batch, time * height * width * channels]
        x = nn.gelu(nn.Dense(self.hidden)(x))
        x = nn.Dropout(0.2, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


def tiny_config(**overrides):
    """The default config with a short constant-ish run, for tiny-model tests."""
    config = default_config()
    config.dataset_configs.num_classes = NUM_CLASSES
    config.num_training_steps = 8
    config.batch_size = 16
    config.lr_configs.warmup_steps = 2
    config.lr_configs.base_learning_rate = 0.5
    apply_overrides(config, overrides)
    return config


def batch_for_step(step: int, batch_size: int = 16, num_classes: int = NUM_CLASSES):
    """A deterministic learnable batch: the label is which frame is brighter, plus noise."""
    rng = np.random.default_rng(1000 + step)
    labels = rng.integers(0, num_classes, size=batch_size).astype(np.int32)
    inputs = rng.uniform(-1, 1, size=(batch_size,) + INPUT_SHAPE).astype(np.float32) * 0.3
    inputs[:, 0, :, :, 0] += (labels[:, None, None] / num_classes).astype(np.float32)
    return {"inputs": inputs, "label": labels, "batch_mask": np.ones(batch_size, np.float32)}


def tiny_training(config, mesh, total_updates: int):
    """(model, optimizer, state, shardings, jitted train_step) of the tiny model on `mesh`."""
    import jax

    from vivit.tasks import task_for_config
    from vivit.train import optimizer as opt_lib
    from vivit.train import state as state_lib, step as step_lib

    model = TinyVideoClassifier()
    optimizer, schedule = opt_lib.build_optimizer(config, total_updates=total_updates)
    _, shardings, create = state_lib.plan_train_state(
        model, optimizer, (1,) + INPUT_SHAPE, jax.random.PRNGKey(config.rng_seed), mesh,
        config.mesh.fsdp_min_size)
    state = create()
    train_step = step_lib.jit_train_step(
        step_lib.make_train_step(model, optimizer, task_for_config(config), schedule),
        mesh, shardings)
    return model, optimizer, state, shardings, train_step


def tiny_state(optimizer_name: str | None = None):
    """(train state, its abstract ShapeDtypeStructs with shardings) of the tiny model on a mesh
    built from tiny_config(), for checkpoint tests (optimizer: tiny_config's, or the one named)."""
    import jax

    from vivit.train import mesh as mesh_lib, optimizer as opt_lib
    from vivit.train import state as state_lib

    config = tiny_config()
    if optimizer_name is not None:
        config.optimizer = optimizer_name
    mesh = mesh_lib.build_mesh(config)
    optimizer, _ = opt_lib.build_optimizer(config, total_updates=8)
    abstract, _, create = state_lib.plan_train_state(
        TinyVideoClassifier(), optimizer, (1,) + INPUT_SHAPE, jax.random.PRNGKey(0), mesh)
    state = create()
    return state, abstract
