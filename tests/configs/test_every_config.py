"""Every config file in configs/ parses, completes, resolves its schedule and builds its model
at full size (abstractly: jax.eval_shape, no parameters allocated), and names the dataset keys a
user still has to set. A config that rots fails here, naming the file."""

from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from vivit.config import load_config
from vivit.flops import clip_shape
from tests.task_helpers import model_of
from vivit.train import cadence as cadence_lib
from vivit.train import optimizer as opt_lib

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
HELPERS = {"common.py"}  # Imported by the configs; no get_config().
CONFIG_FILES = sorted(p.name for p in CONFIG_DIR.glob("*.py") if p.name not in HELPERS)
# The paper's models (arXiv 2103.15691, Table 7) must each have a config.
PAPER_CONFIGS = {"k400_spacetime.py", "k400_fe.py", "k400_l_fe.py", "k600_l_fe.py",
                 "ek100_l_fe.py", "ssv2_l_fe.py", "mit_l_fe.py"}


def _train_examples(config) -> int:
    if config.dataset_name == "synthetic_motion":
        return int(config.dataset_configs.synthetic.num_train_examples)
    return int(config.dataset_configs.examples_per_subset.train)


def _keys_left_for_the_user(config) -> list[str]:
    """Dataset keys the config leaves unset that its dataset needs."""
    data = config.dataset_configs
    if config.dataset_name == "synthetic_motion":
        return []
    assert config.dataset_name == "video_tfrecord_dataset", config.dataset_name
    missing = [f"dataset_configs.{key}" for key in ("base_dir",) if data.get(key) is None]
    for section in ("tables", "examples_per_subset"):
        missing += [f"dataset_configs.{section}.{split}"
                    for split in ("train", "validation", "test") if data[section].get(split) is None]
    if data.num_classes is None and not data.class_splits:
        missing.append("dataset_configs.num_classes")
    return missing


def test_helpers_are_exactly_the_files_without_get_config():
    for path in CONFIG_DIR.glob("*.py"):
        assert ("def get_config(" in path.read_text()) != (path.name in HELPERS), path.name
    assert PAPER_CONFIGS <= set(CONFIG_FILES)


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_config_resolves_and_builds_its_model(name):
    config = load_config(str(CONFIG_DIR / name))
    examples = _train_examples(config)
    cadence = cadence_lib.loop_cadence(config, examples)
    config = opt_lib.resolve_schedule(config, examples)
    opt_lib.build_optimizer(config, opt_lib.num_optimizer_updates(config, cadence.total_steps))

    model = model_of(config)
    video = jax.ShapeDtypeStruct(clip_shape(config), jnp.float32)
    variables = jax.eval_shape(model.init, jax.random.PRNGKey(0), video)
    logits = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, video)
    classes = config.dataset_configs.num_classes or sum(config.dataset_configs.class_splits)
    assert logits.shape == (1, classes), (name, logits.shape)

    # Data lives outside the repository: only its directory is left for the user to set.
    expected = [] if config.dataset_name == "synthetic_motion" else ["dataset_configs.base_dir"]
    assert _keys_left_for_the_user(config) == expected, name


# Table 7 of arXiv 2103.15691v2 (and Sec. 4.1: L_t = 4, batch 64, 2.5 warmup epochs):
# file -> (attention, hidden size, base LR, epochs, colour jitter, RandAugment (layers,
# magnitude), droplayer, label smoothing, mixup alpha).
TABLE7 = {
    "k400_spacetime.py": ("spacetime", 768, 0.1, 30, True, None, 0.0, None, None),
    "k400_fe.py": ("factorized_encoder", 768, 0.1, 30, True, None, 0.0, None, None),
    "k400_l_fe.py": ("factorized_encoder", 1024, 0.1, 30, True, None, 0.0, None, None),
    "k600_l_fe.py": ("factorized_encoder", 1024, 0.1, 30, True, None, 0.0, None, None),
    "mit_l_fe.py": ("factorized_encoder", 1024, 0.25, 10, True, None, 0.0, None, None),
    "ek100_l_fe.py": ("factorized_encoder", 1024, 0.5, 50, False, (2, 15), 0.2, 0.2, 0.1),
    "ssv2_l_fe.py": ("factorized_encoder", 1024, 0.5, 35, False, (2, 20), 0.3, 0.3, 0.3),
}


@pytest.mark.parametrize("name", sorted(TABLE7))
def test_paper_configs_follow_table7(name):
    config = load_config(str(CONFIG_DIR / name))
    attention, width, lr, epochs, colour, rand_augment, droplayer, smoothing, mixup = TABLE7[name]
    augment = config.dataset_configs.augmentation_params
    assert config.model.attention_config.type == attention
    assert config.model.hidden_size == width and tuple(config.model.patches.size) == (16, 16, 2)
    if attention == "factorized_encoder":
        assert config.model.temporal_transformer.num_layers == 4
    assert config.lr_configs.base_learning_rate == lr and config.num_training_epochs == epochs
    assert config.batch_size == 64 and config.optimizer == "momentum"
    assert config.optimizer_configs.momentum == 0.9 and config.lr_configs.warmup_epochs == 2.5
    assert augment.do_jitter_scale and (augment.scale_min_factor, augment.scale_max_factor) == (
        0.9, 1.33)
    assert augment.do_color_augment == colour
    assert augment.do_rand_augment == bool(rand_augment)
    if rand_augment:
        assert (augment.rand_augment_num_layers, augment.rand_augment_magnitude) == rand_augment
    assert config.model.stochastic_droplayer_rate == droplayer
    assert config.label_smoothing == smoothing and config.mixup.alpha == mixup
    assert config.dataset_configs.random_flip and config.dataset_configs.crop_size == 224
