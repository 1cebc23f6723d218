"""The flat-path helpers (now flax.traverse_util) keep the paths they produced before."""

from __future__ import annotations

import numpy as np

from vivit.formats.view import flatten, unflatten
from vivit.workdir import config_differences


def test_parameter_paths_use_scenic_slashes_and_round_trip():
    tree = {"Transformer": {"encoderblock_0": {"kernel": [[1.0]], "bias": [0.0]}, "empty": {}},
            "cls": 3}
    flat = flatten(tree)
    assert sorted(flat) == ["Transformer/encoderblock_0/bias", "Transformer/encoderblock_0/kernel",
                            "cls"]  # empty sections hold no parameter and vanish
    assert all(isinstance(value, np.ndarray) for value in flat.values())
    back = unflatten(flat)
    np.testing.assert_array_equal(back["Transformer"]["encoderblock_0"]["kernel"], [[1.0]])
    assert back["cls"] == 3


def test_config_differences_name_nested_keys_with_dots():
    old = {"model": {"hidden_size": 8, "patches": {"size": (4, 4, 2)}}, "batch_size": 2}
    new = {"model": {"hidden_size": 16, "patches": {"size": (4, 4, 2)}}, "seed": 1}
    assert config_differences(old, new) == [
        "batch_size: 2 -> '<absent>'",
        "model.hidden_size: 8 -> 16",
        "seed: '<absent>' -> 1",
    ]
