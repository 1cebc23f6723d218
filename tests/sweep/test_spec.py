"""Expanding sweep files into runs: names, overrides, command lines, and configs resolved exactly
as main.py's flags resolve them."""

import pytest

from tests.sweep.sweep_helpers import ABLATIONS, REPO_ROOT, SWEEP_ROWS, sweep_arg
from vivit.sweep import spec


def _runs(file: str, tiny: bool = False, workdir: str = "/sweeps/x", **extra):
    sweep, _, arg = spec.load_sweep(sweep_arg(file, tiny))
    return spec.expand(sweep, workdir, spec.is_tiny(arg), extra)


def test_table2_expands_to_five_named_main_commands():
    runs = _runs("table_2_variants.py")
    assert [r.name for r in runs] == [
        "model=spacetime", "model=factorized_encoder", "model=factorized_self_attention_block",
        "model=factorized_dot_product_attention", "model=factorized_encoder,baseline=avg_pool"]
    assert runs[1].command() == (
        "python main.py --config=configs/k400_fe.py --workdir=/sweeps/x/model=factorized_encoder "
        "--config.dataset_configs.do_three_spatial_crops=False "
        "--config.model.attention_config.type=factorized_encoder")
    assert "--config.model.attention_config.spatial_only_baseline=True" in runs[4].command()
    assert runs[0].paper == {"accuracy": 80.0, "gflops": 455.2, "params_m": 88.9}


@pytest.mark.parametrize("file", sorted(SWEEP_ROWS))
@pytest.mark.parametrize("tiny", [False, True])
def test_every_sweep_expands_and_resolves(file, tiny):
    runs = _runs(file, tiny)
    assert len(runs) == SWEEP_ROWS[file]
    assert len({r.workdir for r in runs}) == len(runs)
    for run in runs:
        config = spec.resolve_config(run.base, run.overrides)
        for key, value in run.overrides.items():
            node = config
            for part in key.split("."):
                node = node[part]
            assert spec.format_value(tuple(node) if isinstance(node, list) else node) == value
        if tiny:
            assert config.dataset_name == "synthetic_motion"
            assert config.model.hidden_size == 32


def test_tiny_mode_keeps_what_the_row_varies_and_shrinks_the_rest():
    runs = {r.name: r for r in _runs("table_3_temporal_layers.py", tiny=True)}
    assert runs["temporal_layers=12"].overrides["model.temporal_transformer.num_layers"] == "12"
    assert runs["temporal_layers=12"].overrides["model.spatial_transformer.num_layers"] == "1"
    crops = {r.name: r for r in _runs("table_5_crop.py", tiny=True)}
    assert crops["crop=320"].overrides["dataset_configs.crop_size"] == "40"
    assert crops["crop=320"].overrides["model.hidden_size"] == "32"  # not ViViT-L's 1024
    # The paper-size model keeps the paper's values.
    assert crops["crop=320"].compute_overrides["dataset_configs.crop_size"] == "320"
    assert crops["crop=320"].compute_overrides["model.hidden_size"] == "1024"


def test_set_overrides_reach_every_run():
    runs = _runs("table_2_variants.py", **{"dataset_configs.base_dir": "/data/k400"})
    assert all("--config.dataset_configs.base_dir=/data/k400" in r.command() for r in runs)


def test_format_value_round_trips_through_the_command_line():
    assert spec.format_value((16, 16, 2)) == "(16,16,2)"
    assert spec.format_value((8,)) == "(8,)"
    assert spec.format_value(0.1) == "0.1" and spec.format_value(True) == "True"
    config = spec.resolve_config("configs/k400_fe.py", {
        "model.patches.size": "(8,8,2)", "lr_configs.base_learning_rate": "0.05",
        "num_training_epochs": "None", "num_training_steps": "10"})
    assert tuple(config.model.patches.size) == (8, 8, 2)
    assert config.lr_configs.base_learning_rate == 0.05
    assert config.num_training_epochs is None and config.num_training_steps == 10


def test_unknown_key_fails_with_one_line_naming_it():
    with pytest.raises(spec.SweepError,
                       match=r"Unknown config key 'model.attention_config.typo'.* Did you mean "
                             r"'model.attention_config.type'\?"):
        spec.resolve_config("configs/k400_fe.py", {"model.attention_config.typo": "x"})


def test_value_of_the_wrong_type_is_refused_and_none_unsets_a_string_key():
    with pytest.raises(spec.SweepError, match=r"batch_size=1.5: config.batch_size expects an "
                                              r"integer"):
        spec.resolve_config("configs/k400_fe.py", {"batch_size": "1.5"})
    config = spec.resolve_config("configs/k400_fe.py",
                                 {"model.temporal_encoding_config.kernel_init_method": "None"})
    assert config.model.temporal_encoding_config.kernel_init_method is None


def test_bad_sweep_inputs_are_refused():
    with pytest.raises(spec.SweepError, match="does not exist"):
        spec.load_sweep("configs/ablations/no_such_table.py")
    with pytest.raises(spec.SweepError, match="'tinyy': expected 'tiny'."):
        spec.load_sweep("configs/ablations/table_2_variants.py:tinyy")
    with pytest.raises(spec.SweepError, match="'lr=1': expected 'tiny' or k400_checkpoint=VALUE"):
        spec.load_sweep("configs/ablations/table_4_regularisation.py:lr=1")
    with pytest.raises(spec.SweepError, match="needs :k400_checkpoint"):
        spec.load_sweep("configs/ablations/table_4_regularisation.py")


def test_duplicate_row_names_are_refused():
    row = spec.Row("a=1", "A", {"batch_size": 8})
    sweep = spec.Sweep(key="k", title="t", base="configs/k400_fe.py", rows=(row, row))
    with pytest.raises(spec.SweepError, match="Two rows"):
        spec.expand(sweep, "/w", tiny=False)


def test_every_ablation_file_is_listed():
    assert sorted(p.name for p in ABLATIONS.glob("*.py")) == sorted(SWEEP_ROWS)
    assert (REPO_ROOT / "configs" / "k400_fe.py").is_file()
