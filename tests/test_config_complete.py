"""`vivit.config.complete`: configs that set only some keys (Scenic's style) get the rest at their
defaults; misspelt sections fail instead of being silently ignored."""

import ml_collections
import pytest

from vivit.config import apply_overrides, complete, default_config


def test_a_partial_config_gets_every_other_key_at_its_default():
    partial = ml_collections.ConfigDict({
        "batch_size": 8,
        "model": {"patches": {"size": [8, 8, 2]}, "num_layers": 3},
        "dataset_configs": {"num_classes": 7, "augmentation_params": {"do_jitter_scale": True}},
    })
    full = complete(partial)
    assert full.batch_size == 8 and full.model.num_layers == 3
    assert tuple(full.model.patches.size) == (8, 8, 2)
    assert full.dataset_configs.num_classes == 7
    assert full.dataset_configs.augmentation_params.do_jitter_scale is True
    defaults = default_config()
    assert full.model.hidden_size == defaults.model.hidden_size
    assert full.dataset_configs.augmentation_params.prob_color_drop == (
        defaults.dataset_configs.augmentation_params.prob_color_drop)
    assert full.mesh.fsdp == defaults.mesh.fsdp


def test_a_misspelt_section_is_named_not_ignored():
    # Scenic's own kinetics400/vivit_base_k400.py assigns `config.datset_configs`.
    partial = ml_collections.ConfigDict({"datset_configs": {"num_frames": 32}})
    with pytest.raises(ValueError, match="Unknown config key 'datset_configs'. Did you mean "
                                         "'dataset_configs'"):
        complete(partial)


def test_a_config_built_from_the_defaults_comes_back_the_same():
    config = apply_overrides(default_config(), {"batch_size": 4, "mesh.fsdp": -1})
    assert complete(config).to_dict() == config.to_dict()


def test_unset_keys_can_be_given_any_value_later():
    config = default_config()
    config.dataset_configs.base_dir = "/data/k400"
    config.init_from.model_config = ml_collections.ConfigDict({"hidden_size": 768})
    assert complete(config).dataset_configs.base_dir == "/data/k400"
