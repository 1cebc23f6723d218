"""Batch sizes and the learning rate are checked before a run opens anything, naming the key."""

import pytest

from vivit.config import complete, load_config_file
from vivit.train.optimizer import check_batch_sizes_and_learning_rate


def _demo():
    return complete(load_config_file("configs/demo.py"))


def test_the_demo_config_passes():
    check_batch_sizes_and_learning_rate(_demo())


@pytest.mark.parametrize("key,value", [
    ("batch_size", 0), ("batch_size", -8), ("eval_batch_size", 0),
])
def test_a_batch_size_below_one_is_refused(key, value):
    config = _demo()
    config[key] = value
    with pytest.raises(ValueError, match=rf"config\.{key}={value!r} must be a positive integer"):
        check_batch_sizes_and_learning_rate(config)


def test_a_test_batch_size_below_one_is_refused():
    config = _demo()
    config.dataset_configs.test_batch_size = 0
    with pytest.raises(ValueError, match=r"config\.dataset_configs\.test_batch_size=0"):
        check_batch_sizes_and_learning_rate(config)


@pytest.mark.parametrize("rate", [-0.1, -1e-9, float("nan")])
def test_a_negative_or_undefined_learning_rate_is_refused(rate):
    config = _demo()
    config.lr_configs.base_learning_rate = rate
    with pytest.raises(ValueError, match=r"config\.lr_configs\.base_learning_rate=.* must be a "
                       "positive number"):
        check_batch_sizes_and_learning_rate(config)


def test_a_zero_learning_rate_is_allowed_with_a_warning(caplog):
    config = _demo()
    config.lr_configs.base_learning_rate = 0.0
    with caplog.at_level("WARNING"):
        check_batch_sizes_and_learning_rate(config)
    assert "base_learning_rate=0: the parameters will not change" in caplog.text
