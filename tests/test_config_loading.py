"""`vivit.config.load_config`: FILE[:ARG] + overrides -> the completed config a run uses.

Scenic's released ViViT files run as they are (their quirks accepted with one warning each),
overrides reach every declared key whether or not the file sets it, and bad input is one line
naming the file and line, or the key and the value expected."""

import logging
import textwrap

import pytest

from vivit.config import ConfigError, apply_overrides, default_config, load_config
from vivit.train import optimizer as opt_lib

# Written here in Scenic's style; each quirk of Scenic's released files is reproduced.
SCENIC_QUIRKS = '''
import ml_collections

TRAIN_SIZE = 1000

def get_config():
    config = ml_collections.ConfigDict()
    config.dataset_name = "video_tfrecord_dataset"
    config.dataset_configs = ml_collections.ConfigDict()
    config.datset_configs = ml_collections.ConfigDict()  # Typo in every released file.
    config.dataset_configs.num_classes = 600
    config.num_training_epochs = 30
    config.batch_size = 64
    config.checkpoint = False
    config.init_from = ml_collections.ConfigDict()
    config.init_from.checkpoint_path = "path_to_checkpoint"
    config.init_from.checkpoint_path = None  # Set, then overwritten with None (SSv2, EK).
    steps_per_epoch = TRAIN_SIZE // config.batch_size
    config.lr_configs = ml_collections.ConfigDict()
    config.lr_configs.warmup_steps = 2.5 * steps_per_epoch  # A float (K600).
    config.lr_configs.steps_per_cycle = config.num_training_epochs * steps_per_epoch
    return config
'''


def _write(tmp_path, text, name="config.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_scenic_quirks_load_with_one_warning_each(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        config = load_config(_write(tmp_path, SCENIC_QUIRKS))
    warnings = [r.getMessage() for r in caplog.records if "Scenic config quirk" in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert "config.datset_configs" in warnings[0]
    assert "config.lr_configs.warmup_steps=37.5 is a float; using 37 steps" in warnings[1]
    assert config.lr_configs.warmup_steps == 37 and config.lr_configs.steps_per_cycle == 450
    assert config.checkpoint is False and config.dataset_configs.num_classes == 600


def test_overrides_reach_keys_the_file_does_not_set_or_sets_to_none(tmp_path):
    config = load_config(_write(tmp_path, SCENIC_QUIRKS), [
        "num_training_steps=12", "num_training_epochs=None", "best_checkpoint_metric=loss",
        "dataset_configs.synthetic.num_train_examples=64", "init_from.checkpoint_path=/ckpt/x",
        "model.patches.size=(8, 8, 2)", "checkpoint=True", "lr_configs.steps_per_cycle=None",
        "label_smoothing=0.1", "model.attention_config.implementation=xla",
        "experiment_name=None",
    ])
    assert config.num_training_steps == 12 and config.num_training_epochs is None
    assert config.best_checkpoint_metric == "loss"
    assert config.dataset_configs.synthetic.num_train_examples == 64
    assert config.init_from.checkpoint_path == "/ckpt/x"
    assert config.model.patches.size == (8, 8, 2)
    assert config.checkpoint is True and config.lr_configs.steps_per_cycle is None
    assert config.label_smoothing == 0.1
    assert config.model.attention_config.implementation == "xla"
    assert config.experiment_name is None  # A string key can be unset too.


def test_a_file_argument_is_passed_to_get_config(tmp_path):
    path = _write(tmp_path, '''
        from vivit.config import default_config
        def get_config(arg):
            config = default_config()
            config.experiment_name = arg
            return config
    ''')
    assert load_config(f"{path}:L/16x2").experiment_name == "L/16x2"


@pytest.mark.parametrize("override, message", [
    ("modle.num_heads=2", "Unknown config key 'modle.num_heads' in --config.modle.num_heads=2. "
                          "Did you mean 'model.num_heads'?"),
    ("dataset_configs.num_clases=3", "Did you mean 'dataset_configs.num_classes'?"),
    ("batch_size=eight", "--config.batch_size=eight: config.batch_size expects an integer."),
    ("checkpoint=maybe", "config.checkpoint expects true or false"),
    ("model=3", "config.model is a section; set its keys one by one"),
    ("init_from.model_config.model.classifier=gap",
     "config.init_from.model_config is not a section"),
])
def test_bad_overrides_are_one_line_naming_key_and_expectation(override, message):
    with pytest.raises(ConfigError) as error:
        load_config("configs/demo.py", [override])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_typed_mapping_override_is_checked_too():
    with pytest.raises(ConfigError, match="config.batch_size expects an integer"):
        apply_overrides(default_config(), {"batch_size": 2.5})
    assert apply_overrides(default_config(), {"lr_configs.base_learning_rate": 1}
                           ).lr_configs.base_learning_rate == 1.0


def test_a_non_empty_typo_section_is_still_an_error(tmp_path):
    path = _write(tmp_path, SCENIC_QUIRKS.replace(
        "config.datset_configs = ml_collections.ConfigDict()",
        "config.datset_configs = ml_collections.ConfigDict({'num_frames': 8})"))
    with pytest.raises(ConfigError, match="Unknown config key 'datset_configs'. Did you mean "
                                          "'dataset_configs'"):
        load_config(path)


def test_a_config_file_that_does_not_parse_is_one_line_with_file_and_line(tmp_path):
    # Scenic's Epic-Kitchens file has a comment without '#' at line 142.
    path = _write(tmp_path, SCENIC_QUIRKS.replace(
        "    config.init_from = ml_collections.ConfigDict()\n",
        "    config.init_from = ml_collections.ConfigDict()\n"
        "    Use a pretrained Kinetics checkpoint, or ImageNet checkpoint\n"))
    line = open(path).read().splitlines().index(
        "    Use a pretrained Kinetics checkpoint, or ImageNet checkpoint") + 1
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"Config file '{path}' line {line}: invalid syntax")
    assert "\n" not in str(error.value)


def test_a_typo_inside_a_config_file_names_file_line_and_key(tmp_path):
    path = _write(tmp_path, '''
        from vivit.config import default_config
        def get_config():
            config = default_config()
            config.model.num_haeds = 2
            return config
    ''')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == (
        f"Config file '{path}' line 5 (config.model.num_haeds = 2): unknown config key "
        "'num_haeds'. Did you mean 'num_heads'?")


def test_sibling_modules_are_importable_and_not_shared_between_directories(tmp_path):
    for name, classes in (("a", 3), ("b", 5)):
        directory = tmp_path / name
        directory.mkdir()
        (directory / "shared.py").write_text(f"CLASSES = {classes}\n")
        _write(directory, '''
            from shared import CLASSES
            from vivit.config import default_config
            def get_config():
                config = default_config()
                config.dataset_configs.num_classes = CLASSES
                return config
        ''')
    assert load_config(str(tmp_path / "a" / "config.py")).dataset_configs.num_classes == 3
    assert load_config(str(tmp_path / "b" / "config.py")).dataset_configs.num_classes == 5


def test_k400_fe_schedule_follows_batch_size_and_epochs():
    examples = 214834
    at_64 = opt_lib.resolve_schedule(load_config("configs/k400_fe.py"), examples)
    at_32 = opt_lib.resolve_schedule(load_config("configs/k400_fe.py", ["batch_size=32"]),
                                     examples)
    assert at_64.lr_configs.warmup_steps == int(2.5 * (examples // 64))
    assert at_32.lr_configs.warmup_steps == int(2.5 * (examples // 32))
    for config in (at_64, at_32):  # The cosine spans the whole run, whatever its length.
        total = opt_lib.total_train_steps(config, examples)
        schedule = opt_lib.learning_rate_schedule(config.lr_configs, total)
        warmup = config.lr_configs.warmup_steps
        assert float(schedule(warmup)) == pytest.approx(0.1)
        assert float(schedule(total)) == pytest.approx(0.0, abs=1e-6)
    assert opt_lib.total_train_steps(at_32, examples) == 30 * (examples // 32)


def test_explicit_warmup_steps_win_over_warmup_epochs():
    config = load_config("configs/k400_fe.py", ["lr_configs.warmup_steps=7"])
    assert opt_lib.resolve_schedule(config, 214834).lr_configs.warmup_steps == 7
    accumulated = load_config("configs/k400_fe.py", ["gradient_accumulation_steps=2"])
    resolved = opt_lib.resolve_schedule(accumulated, 6400)  # 100 steps = 50 updates per epoch.
    assert resolved.lr_configs.warmup_steps == 125


def test_command_line_overrides_are_split_from_other_arguments():
    from vivit.config import split_override_args

    rest, overrides = split_override_args(
        ["main.py", "--config=configs/demo.py", "--config.batch_size=8", "--config.model.remat",
         "--noconfig.write_summary", "--workdir=/tmp/x", "a.mp4"])
    assert rest == ["main.py", "--config=configs/demo.py", "--workdir=/tmp/x", "a.mp4"]
    config = load_config("configs/demo.py", overrides + ["checkpoint=false"])
    assert config.batch_size == 8 and config.model.remat is True
    assert config.write_summary is False and config.checkpoint is False


def test_importing_the_config_does_not_load_the_checkpoint_readers():
    """vivit.config needs only init_from's keys; the readers (TensorFlow via flax's msgpack
    checkpoints, seconds) load when a checkpoint is read, not at every command-line start."""
    import subprocess
    import sys

    code = ("import sys, vivit.config, vivit.pretrained\n"
            "print(sorted(m for m in ('tensorflow', 'vivit.formats.readers') if m in sys.modules))\n"
            "vivit.pretrained.CheckpointError  # a name of the package loads its module on use\n"
            "print('vivit.formats.errors' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.split("\n")[:2] == ["[]", "True"], result.stdout
