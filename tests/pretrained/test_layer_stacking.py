"""Scanned (stacked) and per-layer models load the same checkpoints and give the same logits."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ckpt_layouts import (LAYERS, flat, init_params, random_video, random_vit, tiny_config,
                          write_big_vision_npz, write_orbax, write_scenic_msgpack, write_vit_npz)
from vivit.formats.layer_stacking import stack_layers, tree_like_layout, unstack_layers
from vivit.formats.readers import read_checkpoint
from vivit.formats.view import unflatten
from vivit.pretrained import CheckpointError, initialize


def _initialized(path: str, **overrides):
    """(model, params) of a tiny Model 1 initialized from the checkpoint at `path`."""
    config = tiny_config(**overrides)
    config.init_from.checkpoint_path = path
    model, params = init_params(config, seed=1)
    return model, initialize(params, config)


def _perturbed(params):
    rng = np.random.default_rng(0)
    return jax.tree_util.tree_map(
        lambda x: np.asarray(x) + rng.normal(0, 0.1, x.shape).astype(np.float32), params)


def test_stack_and_unstack_are_inverse_for_every_encoder():
    _, params = init_params(tiny_config("factorized_encoder"))
    per_layer = flat(params)
    stacked = stack_layers(per_layer)
    assert "SpatialTransformer/encoderblock/MlpBlock_0/Dense_0/kernel" in stacked
    assert "TemporalTransformer/encoderblock/LayerNorm_0/scale" in stacked
    assert stacked["SpatialTransformer/encoderblock/LayerNorm_0/scale"].shape[0] == LAYERS
    assert not any("encoderblock_" in p for p in stacked)
    back = unstack_layers(stacked)
    assert sorted(back) == sorted(per_layer)
    for path, value in per_layer.items():
        np.testing.assert_array_equal(back[path], value, err_msg=path)


def test_stacking_a_gap_in_the_layers_is_refused():
    per_layer = flat(init_params(tiny_config())[1])
    del per_layer["Transformer/encoderblock_0/LayerNorm_0/scale"]
    with pytest.raises(CheckpointError, match="Cannot stack the blocks of 'Transformer'"):
        stack_layers(per_layer)


@pytest.mark.parametrize("fmt", ["vit_npz", "big_vision", "scenic"])
def test_a_scanned_model_initializes_from_a_vit_like_an_unrolled_one(tmp_path, fmt):
    writers = {"vit_npz": lambda: write_vit_npz(str(tmp_path / "vit.npz"), random_vit()),
               "big_vision": lambda: write_big_vision_npz(str(tmp_path / "bv.npz"), random_vit()),
               "scenic": lambda: write_scenic_msgpack(str(tmp_path / "scenic"), random_vit())}
    path = writers[fmt]()
    model, params = _initialized(path)
    scanned_model, scanned = _initialized(path, **{"model.scan_layers": True})
    assert "encoderblock" in scanned["Transformer"]
    unstacked = flat(tree_like_layout(scanned, params))
    for path_, value in flat(params).items():
        np.testing.assert_array_equal(unstacked[path_], value, err_msg=path_)
    video = random_video()
    np.testing.assert_allclose(scanned_model.apply({"params": scanned}, video),
                               model.apply({"params": params}, video), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("source_scanned,target_scanned", [(False, True), (True, False)])
def test_our_orbax_checkpoints_load_across_layouts(tmp_path, source_scanned, target_scanned):
    """A run saves in its own layout; init_from loads it into either layout, same logits."""
    source_model, source = init_params(tiny_config(**{"model.scan_layers": source_scanned}),
                                       seed=3)
    source = _perturbed(source)
    write_orbax(str(tmp_path / "run"), source)
    view = read_checkpoint(str(tmp_path / "run"))
    assert "Transformer/encoderblock_1/LayerNorm_0/scale" in view.params  # views are per-layer
    model, params = _initialized(str(tmp_path / "run"), **{"model.scan_layers": target_scanned})
    assert ("encoderblock" in params["Transformer"]) == target_scanned
    video = random_video()
    np.testing.assert_allclose(model.apply({"params": params}, video),
                               source_model.apply({"params": source}, video), rtol=1e-5, atol=1e-6)


def test_a_scanned_run_exports_to_hugging_face(tmp_path):
    from vivit.export import main

    scanned_model, params = init_params(tiny_config(**{"model.scan_layers": True}), seed=3)
    params = _perturbed(params)
    write_orbax(str(tmp_path / "workdir"), params)
    (tmp_path / "run_config.py").write_text(
        "from ckpt_layouts import tiny_config\n\ndef get_config():\n"
        "    config = tiny_config()\n    config.model.scan_layers = True\n"
        "    config.dataset_configs.min_resize = 20\n    return config\n")
    out = tmp_path / "hf"
    assert main([f"--checkpoint={tmp_path / 'workdir'}", "--to=hf", f"--out={out}",
                 f"--config={tmp_path / 'run_config.py'}"]) == 0
    exported = read_checkpoint(str(out)).params
    want = unstack_layers(flat(params))
    assert sorted(exported) == sorted(want)
    for name, value in want.items():
        np.testing.assert_array_equal(exported[name], value, err_msg=name)
    unrolled_model, _ = init_params(tiny_config())
    video = random_video()
    np.testing.assert_allclose(
        unrolled_model.apply({"params": unflatten(exported)}, video),
        scanned_model.apply({"params": params}, video), rtol=1e-5, atol=1e-6)
