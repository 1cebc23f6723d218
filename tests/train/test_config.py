"""The training section of the config: Scenic-style configs load, typos are rejected."""

import ml_collections
import pytest

from vivit.config import default_config, validate_keys


def test_scenic_style_training_section_is_accepted():
    config = default_config()
    config.optimizer = "momentum"
    config.optimizer_configs = ml_collections.ConfigDict({"momentum": 0.9})
    config.lr_configs = ml_collections.ConfigDict({
        "learning_rate_schedule": "compound",
        "factors": "constant * cosine_decay * linear_warmup",
        "warmup_steps": 2500, "steps_per_cycle": 100000, "base_learning_rate": 0.1})
    config.l2_decay_factor = 0
    config.max_grad_norm = 1
    config.label_smoothing = 0.2
    config.mixup = ml_collections.ConfigDict({"alpha": 0.1})
    config.num_training_epochs = 30
    config.log_summary_steps = 100
    config.checkpoint_steps = 1000
    validate_keys(config)
    assert default_config().optimizer_configs.momentum == 0.9


@pytest.mark.parametrize("section, key", [
    ("optimizer_configs", "momentm"), ("lr_configs", "warmup_step"), ("mesh", "model")])
def test_typo_in_a_training_subsection_is_named(section, key):
    config = default_config()
    config[section] = ml_collections.ConfigDict({key: 1})
    with pytest.raises(ValueError, match=f"{section}.{key}"):
        validate_keys(config)


def test_unknown_top_level_training_key_raises_at_once():
    config = default_config()
    with pytest.raises(AttributeError):
        config.num_train_steps = 10
