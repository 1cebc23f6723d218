"""A config file written the way Scenic writes them (a plain ConfigDict holding only Scenic's
keys, lists where Scenic uses lists) trains through `main.py` on DMVR TFRecords: every key it
leaves out takes vivit's default."""

import textwrap

import numpy as np
import pytest

from tests.data.conftest import write_dmvr_tfrecord
from tests.trainer.main_runner import checkpoint_steps, read_scalars, run_main, tree_digest
from vivit.data.synthetic import SyntheticMotionSource

pytestmark = pytest.mark.slow

SCENIC_STYLE_CONFIG = '''
import ml_collections

def get_config():
    config = ml_collections.ConfigDict()
    config.experiment_name = "scenic_style_vivit"
    config.dataset_name = "video_tfrecord_dataset"
    config.dataset_configs = ml_collections.ConfigDict()
    config.data_dtype_str = "float32"
    config.dataset_configs.base_dir = "{base_dir}"
    config.dataset_configs.tables = {{
        "train": "train.tfrecord@2", "validation": "validation.tfrecord",
        "test": "test.tfrecord"}}
    config.dataset_configs.examples_per_subset = {{"train": 16, "validation": 8, "test": 4}}
    config.dataset_configs.num_classes = 2
    config.dataset_configs.num_frames = 4
    config.dataset_configs.stride = 2
    config.dataset_configs.min_resize = 32
    config.dataset_configs.crop_size = 32
    config.dataset_configs.one_hot_labels = True
    config.dataset_configs.zero_centering = True
    config.dataset_configs.do_multicrop_test = True
    config.dataset_configs.log_test_epochs = 1
    config.dataset_configs.num_test_clips = 2
    config.dataset_configs.test_batch_size = 4
    config.dataset_configs.do_three_spatial_crops = False
    config.dataset_configs.prefetch_to_device = 2
    config.dataset_configs.augmentation_params = ml_collections.ConfigDict()
    config.dataset_configs.augmentation_params.do_jitter_scale = True
    config.dataset_configs.augmentation_params.scale_min_factor = 0.9
    config.dataset_configs.augmentation_params.scale_max_factor = 1.33
    config.dataset_configs.augmentation_params.prob_scale_jitter = 1.0
    config.dataset_configs.augmentation_params.do_color_augment = True
    config.dataset_configs.augmentation_params.prob_color_augment = 0.8
    config.dataset_configs.augmentation_params.prob_color_drop = 0.1

    config.model_name = "vivit_classification"
    config.model = ml_collections.ConfigDict()
    config.model.hidden_size = 32
    config.model.patches = ml_collections.ConfigDict()
    config.model.patches.size = [16, 16, 2]
    config.model.attention_config = ml_collections.ConfigDict()
    config.model.attention_config.type = "spacetime"
    config.model.num_heads = 2
    config.model.mlp_dim = 64
    config.model.num_layers = 2
    config.model.representation_size = None
    config.model.classifier = "token"
    config.model.attention_dropout_rate = 0.
    config.model.dropout_rate = 0.
    config.model_dtype_str = "float32"
    config.model.temporal_encoding_config = ml_collections.ConfigDict()
    config.model.temporal_encoding_config.method = "3d_conv"
    config.model.temporal_encoding_config.kernel_init_method = "central_frame_initializer"

    config.trainer_name = "vivit_trainer"
    config.optimizer = "momentum"
    config.optimizer_configs = ml_collections.ConfigDict()
    config.l2_decay_factor = 0
    config.max_grad_norm = 1
    config.label_smoothing = None
    config.num_training_epochs = 2
    config.batch_size = 4
    config.rng_seed = 0

    config.init_from = ml_collections.ConfigDict()
    config.init_from.model_config = None
    config.init_from.checkpoint_path = None
    config.init_from.restore_positional_embedding = True
    config.init_from.restore_input_embedding = True
    config.init_from.positional_embed_size_change = "tile"

    config.lr_configs = ml_collections.ConfigDict()
    config.lr_configs.learning_rate_schedule = "compound"
    config.lr_configs.factors = "constant * cosine_decay * linear_warmup"
    config.lr_configs.warmup_steps = 2
    config.lr_configs.steps_per_cycle = 8
    config.lr_configs.base_learning_rate = 0.1

    config.write_summary = True
    config.checkpoint = True
    config.debug_train = False
    config.debug_eval = False
    config.log_eval_steps = 4
    config.log_summary_steps = 1
    return config
'''


# Epic Kitchens style: two heads instead of num_classes. The four slow translations of
# synthetic_motion split into axis (horizontal / vertical) and sign.
MULTIHEAD_LINES = """
    config.model_name = "vivit_multihead_classification"
    config.dataset_configs.num_classes = None
    config.dataset_configs.class_splits = [2, 2]
    config.dataset_configs.split_names = ["axis", "sign"]
    config.best_checkpoint_metric = "axis-sign_accuracy"
"""


def _records(split, count, multi_head=False):
    source = SyntheticMotionSource(split=split, num_examples=count, num_classes=4,
                                   video_frames=12, resolution=32, seed=0)
    records = []
    for i in range(count):
        label = int(source[i].label)
        records.append((source[i].read_frames(np.arange(12)),
                        [label // 2, label % 2] if multi_head else label % 2, f"{split}{i}"))
    return records


def _write_data_and_config(tmp_path, multi_head=False):
    data = tmp_path / "data"
    data.mkdir()
    train = _records("train", 16, multi_head)
    for shard in range(2):
        write_dmvr_tfrecord(data / f"train.tfrecord-{shard:05d}-of-00002", train[shard::2])
    write_dmvr_tfrecord(data / "validation.tfrecord", _records("validation", 8, multi_head))
    write_dmvr_tfrecord(data / "test.tfrecord", _records("test", 4, multi_head))
    text = SCENIC_STYLE_CONFIG.format(base_dir=data)
    if multi_head:
        text = text.replace("    return config\n", MULTIHEAD_LINES + "    return config\n")
    config_file = tmp_path / "scenic_style.py"
    config_file.write_text(textwrap.dedent(text))
    return config_file


def test_a_scenic_style_config_trains_on_dmvr_tfrecords(tmp_path):
    config_file = _write_data_and_config(tmp_path)

    workdir = tmp_path / "work"
    result = run_main(workdir, config=str(config_file))
    assert result.returncode == 0, result.stderr[-3000:]
    scalars = read_scalars(workdir)
    assert sorted(scalars["train/loss"]) == list(range(1, 9))  # 2 epochs of 16 / 4.
    assert set(scalars["valid/accuracy"]) == {4, 8}
    assert scalars["test/num_videos"][8] == [4.0] and scalars["test/views_per_video"][8] == [2.0]
    assert 8 in checkpoint_steps(workdir)


def test_a_multihead_config_trains_and_reports_per_head_and_joint_accuracy(tmp_path):
    config_file = _write_data_and_config(tmp_path, multi_head=True)
    workdir = tmp_path / "work"
    result = run_main(workdir, config=str(config_file))
    assert result.returncode == 0, result.stderr[-3000:]
    scalars = read_scalars(workdir)
    for name in ("axis_accuracy", "sign_accuracy", "axis-sign_accuracy", "total_loss"):
        assert set(scalars[f"valid/{name}"]) == {4, 8}, name
    assert scalars["test/num_videos"][8] == [4.0]
    assert "test/single_view_axis-sign_accuracy" in scalars
    assert 8 in checkpoint_steps(workdir)


# The quirks of Scenic's released files, each reproduced (not copied): an empty typo'd
# `datset_configs`, a float warmup (K600), a checkpoint path set and then overwritten with None
# (SSv2, EK), and `checkpoint = False`.
QUIRKS = {
    "    config.dataset_configs = ml_collections.ConfigDict()\n":
        "    config.dataset_configs = ml_collections.ConfigDict()\n"
        "    config.datset_configs = ml_collections.ConfigDict()\n",
    "    config.lr_configs.warmup_steps = 2\n":
        "    config.lr_configs.warmup_steps = 2.5 * (16 // config.batch_size) / 2\n",
    "    config.init_from.checkpoint_path = None\n":
        "    config.init_from.checkpoint_path = 'path_to_checkpoint'\n"
        "    config.init_from.checkpoint_path = None\n",
    "    config.checkpoint = True\n": "    config.checkpoint = False\n",
}


def test_scenic_quirks_train_with_overrides_of_keys_the_file_does_not_set(tmp_path):
    config_file = _write_data_and_config(tmp_path)
    text = config_file.read_text()
    for line, quirk in QUIRKS.items():
        assert text.count(line) == 1, line
        text = text.replace(line, quirk)
    config_file.write_text(text)
    workdir = tmp_path / "work"
    # Overrides of keys the file does not set (or sets to None); the file's checkpoint=False is
    # overridden for this first run only, to leave a checkpoint in the workdir.
    unset = ("--config.num_training_steps=4", "--config.num_training_epochs=None",
             "--config.count_flops=False", "--config.steps_per_eval=1",
             "--config.best_checkpoint_metric=loss",
             "--config.dataset_configs.log_test_epochs=None")
    first = run_main(workdir, *unset, "--config.checkpoint=True",
                     "--config.dataset_configs.do_multicrop_test=False", config=str(config_file))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Scenic config quirk: config.datset_configs" in first.stderr
    assert "Scenic config quirk: config.lr_configs.warmup_steps=5.0 is a float" in first.stderr
    assert checkpoint_steps(workdir) == [4]
    before = tree_digest(workdir / "checkpoints")

    # config.checkpoint=False (Scenic's meaning): neither restore nor save; the final test runs.
    second = run_main(workdir, *unset, "--config.num_training_steps=6", config=str(config_file))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Training steps 0 -> 6" in second.stderr
    assert checkpoint_steps(workdir) == [4] and tree_digest(workdir / "checkpoints") == before
    scalars = read_scalars(workdir)
    assert 6 in scalars["test/accuracy"] and scalars["test/num_videos"][6] == [4.0]
