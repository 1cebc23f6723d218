"""`initialize(params, config)` for every variant, from image and video checkpoints."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from ckpt_layouts import (FRAMES, GRID, TUBELET_T, flat, hf_vivit, init_params, random_video,
                          random_vit, tiny_config, write_big_vision_npz, write_orbax,
                          write_scenic_msgpack, write_vit_npz)
from vivit.formats.view import unflatten
from vivit.pretrained import CheckpointError, initialize

VARIANTS = ["spacetime", "factorized_encoder", "factorized_self_attention_block",
            "factorized_dot_product_attention"]
BLOCK = "encoderblock_1"


def _init(config, path, fmt=None, seed=1):
    config.init_from.checkpoint_path = path
    config.init_from.checkpoint_format = fmt
    model, params = init_params(config, seed)
    return model, params, flat(initialize(params, config))


@pytest.fixture(scope="module")
def vit():
    return random_vit()


@pytest.fixture(scope="module")
def vit_files(tmp_path_factory, vit):
    root = tmp_path_factory.mktemp("vit")
    return {"vit_npz": write_vit_npz(str(root / "vit.npz"), vit),
            "big_vision": write_big_vision_npz(str(root / "bv.npz"), vit),
            "scenic": os.path.dirname(write_scenic_msgpack(str(root / "scenic"), vit))}


@pytest.mark.parametrize("attention", VARIANTS)
@pytest.mark.parametrize("fmt", ["vit_npz", "big_vision", "scenic"])
def test_every_variant_initializes_from_a_2d_vit(vit, vit_files, attention, fmt):
    config = tiny_config(attention)
    model, fresh, params = _init(config, vit_files[fmt])
    enc = "SpatialTransformer" if attention == "factorized_encoder" else "Transformer"
    # Central-frame tubelet kernel (Eq. 9): the image kernel at t//2, zeros elsewhere.
    kernel = params["embedding/kernel"]
    np.testing.assert_array_equal(kernel[TUBELET_T // 2], vit["embedding/kernel"])
    np.testing.assert_array_equal(kernel[0], 0)
    np.testing.assert_array_equal(params[f"{enc}/encoder_norm/scale"],
                                  vit["Transformer/encoder_norm/scale"])
    attention_module = ("MultiHeadDotProductAttention_space"
                        if attention == "factorized_self_attention_block"
                        else "MultiHeadDotProductAttention_0")
    np.testing.assert_array_equal(
        params[f"{enc}/{BLOCK}/{attention_module}/query/kernel"],
        vit[f"Transformer/{BLOCK}/MultiHeadDotProductAttention_0/query/kernel"])
    # Posemb repeated over time (paper); per frame for Model 2's spatial encoder.
    posemb = params[f"{enc}/posembed_input/pos_embedding"]
    source = vit["Transformer/posembed_input/pos_embedding"]
    grid = source[0, 1:]
    if fmt == "big_vision":
        source = source.copy()
        source[:, 0] = 0
    has_cls = attention in ("spacetime", "factorized_encoder")
    frames = 1 if attention == "factorized_encoder" else FRAMES // TUBELET_T
    want = np.concatenate(([source[0, :1]] if has_cls else []) + [grid] * frames, axis=0)
    np.testing.assert_allclose(posemb[0], want, atol=1e-7)
    # The 7-class head does not fit 5 classes: kept fresh.
    fresh = flat(fresh)
    np.testing.assert_array_equal(params["output_projection/kernel"], fresh["output_projection/kernel"])
    # And the result runs.
    logits = model.apply({"params": unflatten(params)}, random_video())
    assert logits.shape == (2, 5) and np.all(np.isfinite(logits))


def test_model2_temporal_encoder_keeps_fresh_init_from_an_image_vit(vit_files):
    config = tiny_config("factorized_encoder")
    _, fresh, params = _init(config, vit_files["vit_npz"])
    fresh = flat(fresh)
    for name in fresh:
        if name.startswith("TemporalTransformer/"):
            np.testing.assert_array_equal(params[name], fresh[name], err_msg=name)
    assert "cls_SpatialTransformer" in params


def test_model2_restores_temporal_encoder_from_a_vivit_fe(tmp_path):
    config = tiny_config("factorized_encoder")
    _, source = init_params(config, seed=7)
    write_orbax(str(tmp_path / "fe"), source)
    _, _, params = _init(tiny_config("factorized_encoder"), str(tmp_path / "fe"))
    source = flat(source)
    for name in source:
        np.testing.assert_array_equal(params[name], source[name], err_msg=name)


def test_model2_temporal_posemb_is_interpolated(tmp_path):
    config = tiny_config("factorized_encoder")
    _, source = init_params(config, seed=7)
    write_orbax(str(tmp_path / "fe"), source)
    longer = tiny_config("factorized_encoder", **{"dataset_configs.num_frames": 8})
    _, _, params = _init(longer, str(tmp_path / "fe"))
    posemb = params["TemporalTransformer/posembed_input/pos_embedding"]
    src = flat(source)["TemporalTransformer/posembed_input/pos_embedding"]
    assert posemb.shape == (1, 5, 16)
    np.testing.assert_array_equal(posemb[0, 0], src[0, 0])  # class slot kept
    np.testing.assert_allclose(posemb[0, 1], src[0, 1], atol=1e-6)  # ends stay, middle interpolates
    np.testing.assert_allclose(posemb[0, 4], src[0, 2], atol=1e-6)


@pytest.mark.parametrize("rule", ["zero", "copy_spatial"])
def test_model3_temporal_attention_rules(vit, vit_files, rule):
    config = tiny_config("factorized_self_attention_block")
    config.init_from.temporal_attention_init = rule
    _, fresh, params = _init(config, vit_files["vit_npz"])
    fresh = flat(fresh)
    base = f"Transformer/{BLOCK}"
    spatial = vit[f"{base}/MultiHeadDotProductAttention_0/out/kernel"]
    time_out = params[f"{base}/MultiHeadDotProductAttention_time/out/kernel"]
    time_query = params[f"{base}/MultiHeadDotProductAttention_time/query/kernel"]
    if rule == "zero":
        np.testing.assert_array_equal(time_out, 0)
        np.testing.assert_array_equal(params[f"{base}/MultiHeadDotProductAttention_time/out/bias"], 0)
        np.testing.assert_array_equal(time_query, fresh[f"{base}/MultiHeadDotProductAttention_time/query/kernel"])
    else:
        np.testing.assert_array_equal(time_out, spatial)
    np.testing.assert_array_equal(params[f"{base}/MlpBlock/Dense_0/kernel"],
                                  vit[f"{base}/MlpBlock_0/Dense_0/kernel"])
    np.testing.assert_array_equal(params[f"{base}/LayerNorm_mlp/scale"], vit[f"{base}/LayerNorm_1/scale"])


def test_model3_zero_rule_makes_temporal_attention_a_residual(vit_files):
    """With the paper's rule, Model 3 at step 0 ignores time: permuting frames' order within the
    same tubelet grid changes nothing beyond what spatial attention sees per frame."""
    config = tiny_config("factorized_self_attention_block")
    model, _, params = _init(config, vit_files["vit_npz"])
    video = random_video()
    swapped = np.concatenate([video[:, 2:], video[:, :2]], axis=1)  # swap the two tubelet slots
    out = model.apply({"params": unflatten(params)}, video)
    # Pool 'gap' over all tokens and a posemb tiled over time: the swap is invisible.
    np.testing.assert_allclose(out, model.apply({"params": unflatten(params)}, swapped), atol=1e-5)


@pytest.mark.parametrize("method,weights", [
    ("average_frame_initializer", np.full(TUBELET_T, 1 / TUBELET_T)),
    # Bilen et al. Eq. 3 for T=2: alpha = [-0.5, 0.5], divided by T as Scenic does.
    ("average_arp_frame_initializer", np.array([-0.25, 0.25])),
])
def test_kernel_inflation_rules(vit, vit_files, method, weights):
    config = tiny_config()
    config.model.temporal_encoding_config.kernel_init_method = method
    _, _, params = _init(config, vit_files["vit_npz"])
    for t in range(TUBELET_T):
        np.testing.assert_allclose(params["embedding/kernel"][t], vit["embedding/kernel"] * weights[t],
                                   rtol=1e-6)
    if method == "average_frame_initializer":  # Eq. 8 sums back to the image kernel
        np.testing.assert_allclose(params["embedding/kernel"].sum(0), vit["embedding/kernel"], rtol=1e-5)


def test_temporal_sampling_copies_the_2d_kernel(vit, vit_files):
    config = tiny_config(**{"model.temporal_encoding_config.method": "temporal_sampling",
                            "model.temporal_encoding_config.n_sampled_frames": 2,
                            "model.patches.size": (8, 8)})
    _, _, params = _init(config, vit_files["vit_npz"])
    np.testing.assert_array_equal(params["embedding/kernel"], vit["embedding/kernel"])
    assert params["Transformer/posembed_input/pos_embedding"].shape == (1, 1 + 2 * GRID * GRID, 16)


def test_resize_tile_for_a_larger_crop(vit, vit_files):
    config = tiny_config(**{"dataset_configs.crop_size": 24})  # 3x3 patches per frame
    config.init_from.positional_embed_size_change = "tile"
    config.init_from.checkpoint_path = vit_files["vit_npz"]
    _, fresh = init_params(config)
    with pytest.raises(CheckpointError, match="resize_tile"):
        initialize(fresh, config)
    config.init_from.positional_embed_size_change = "resize_tile"
    params = flat(initialize(fresh, config))
    posemb = params["Transformer/posembed_input/pos_embedding"]
    assert posemb.shape == (1, 1 + 2 * 9, 16)
    np.testing.assert_array_equal(posemb[0, 1:10], posemb[0, 10:19])  # same grid every frame
    # Bilinear 2x2 -> 3x3 keeps the corners.
    grid = vit["Transformer/posembed_input/pos_embedding"][0, 1:]
    np.testing.assert_allclose(posemb[0, 1], grid[0], atol=1e-6)
    np.testing.assert_allclose(posemb[0, 9], grid[3], atol=1e-6)


def test_resize_for_model2_spatial_posemb(vit_files):
    config = tiny_config("factorized_encoder", **{"dataset_configs.crop_size": 24})
    config.init_from.positional_embed_size_change = "resize"
    _, _, params = _init(config, vit_files["vit_npz"])
    assert params["SpatialTransformer/posembed_input/pos_embedding"].shape == (1, 10, 16)


def test_restore_switches_keep_fresh_init(vit_files):
    config = tiny_config()
    config.init_from.restore_positional_embedding = False
    config.init_from.restore_input_embedding = False
    _, fresh, params = _init(config, vit_files["vit_npz"])
    fresh = flat(fresh)
    for name in ("embedding/kernel", "Transformer/posembed_input/pos_embedding"):
        np.testing.assert_array_equal(params[name], fresh[name])


def test_head_is_restored_when_class_count_matches_or_required(vit_files, tmp_path):
    vit7 = random_vit(classes=5)
    path = write_vit_npz(str(tmp_path / "five.npz"), vit7)
    _, _, params = _init(tiny_config(), path)
    np.testing.assert_array_equal(params["output_projection/kernel"], vit7["output_projection/kernel"])
    config = tiny_config()
    config.init_from.restore_output_projection = False
    _, fresh, params = _init(config, path)
    np.testing.assert_array_equal(params["output_projection/kernel"], flat(fresh)["output_projection/kernel"])
    config = tiny_config()
    config.init_from.restore_output_projection = True
    with pytest.raises(CheckpointError, match="output_projection/kernel.*\\(16, 7\\).*\\(16, 5\\)"):
        _init(config, vit_files["vit_npz"])


def test_hidden_size_mismatch_names_the_parameter(vit_files):
    config = tiny_config(**{"model.hidden_size": 32, "model.mlp_dim": 64})
    with pytest.raises(CheckpointError, match="vit.npz.*embedding/kernel"):
        _init(config, vit_files["vit_npz"])


def test_depth_mismatch_names_num_layers(vit_files):
    config = tiny_config(**{"model.num_layers": 3})
    with pytest.raises(CheckpointError, match="2 encoder blocks.*3; set model.num_layers=2"):
        _init(config, vit_files["vit_npz"])


def test_missing_kernel_rule_is_explained(vit_files):
    config = tiny_config()
    config.model.temporal_encoding_config.kernel_init_method = None
    with pytest.raises(CheckpointError, match="kernel_init_method"):
        _init(config, vit_files["vit_npz"])


def test_no_checkpoint_returns_params_unchanged():
    config = tiny_config()
    _, params = init_params(config)
    assert initialize(params, config) is params


def _tree_digest(root: str) -> str:
    digest = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            digest.update(name.encode())
            with open(os.path.join(folder, name), "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()


def test_failed_load_leaves_workdir_and_checkpoint_untouched(tmp_path):
    config = tiny_config()
    _, params = init_params(config)
    workdir = tmp_path / "workdir"
    write_orbax(str(workdir), params)
    before = _tree_digest(str(tmp_path))
    wrong = tiny_config(**{"model.num_layers": 3})
    wrong.init_from.checkpoint_path = str(workdir)
    _, fresh = init_params(wrong)
    with pytest.raises(CheckpointError):
        initialize(fresh, wrong)
    assert _tree_digest(str(tmp_path)) == before


def test_hf_vivit_loads_into_model1_and_gives_its_logits(tmp_path):
    import torch

    hf = hf_vivit(str(tmp_path / "hf"))
    model, _, params = _init(tiny_config(), str(tmp_path / "hf"))
    video = random_video(3)
    ours = np.asarray(model.apply({"params": unflatten(params)}, video))
    with torch.no_grad():
        theirs = hf(pixel_values=torch.from_numpy(video.transpose(0, 1, 4, 2, 3))).logits.numpy()
    assert np.abs(theirs).max() > 0.1  # the comparison is not between two zero vectors
    assert np.abs(ours - theirs).max() < 1e-4


def test_eq9_central_frame_on_a_repeated_image_gives_the_vit_class_token(tmp_path):
    """The point of Eq. 9: a static clip through Model 1 is the image through the ViT.

    Exact for the class token when the clip is one tubelet long: with several temporal slots the
    class token attends to every patch T' times but to itself once, so it is reweighted (the
    class-token-free case below is exact for any length)."""
    import torch
    from ckpt_layouts import hf_vit

    hf = hf_vit(str(tmp_path / "vit"))
    config = tiny_config(**{"model.return_prelogits": True, "dataset_configs.num_frames": TUBELET_T})
    model, _, params = _init(config, str(tmp_path / "vit"))
    image = random_video(5, batch=2)[:, 0]  # [b, h, w, 3]
    clip = np.repeat(image[:, None], TUBELET_T, axis=1)
    ours = np.asarray(model.apply({"params": unflatten(params)}, clip))
    with torch.no_grad():
        theirs = hf(pixel_values=torch.from_numpy(image.transpose(0, 3, 1, 2))).last_hidden_state[:, 0]
    assert np.abs(theirs.numpy()).max() > 0.1
    assert np.abs(ours - theirs.numpy()).max() < 1e-4
    # Only the central frame of each tubelet counts at initialization.
    moving = clip.copy()
    moving[:, 0] = random_video(6, batch=2)[:, 0]
    np.testing.assert_allclose(np.asarray(model.apply({"params": unflatten(params)}, moving)), ours,
                               atol=1e-5)


def test_eq9_static_clip_of_any_length_matches_a_pooled_vit(tmp_path):
    """Without a class token every token is repeated T' times, so attention and the mean pool are
    unchanged: Model 1 on a 4-frame static clip equals the 2D ViT (our frame-sampling path on
    one frame) on the image."""
    path = write_vit_npz(str(tmp_path / "gap.npz"), random_vit(class_token=False))
    video_model, _, video_params = _init(tiny_config(**{"model.classifier": "gap",
                                                        "model.return_prelogits": True}), path)
    image_config = tiny_config(**{"model.classifier": "gap", "model.return_prelogits": True,
                                  "model.temporal_encoding_config.method": "temporal_sampling",
                                  "model.temporal_encoding_config.n_sampled_frames": 1,
                                  "model.patches.size": (8, 8), "dataset_configs.num_frames": 1})
    image_model, _, image_params = _init(image_config, path)
    image = random_video(5, batch=2)[:, :1]
    clip = np.repeat(image, FRAMES, axis=1)
    ours = np.asarray(video_model.apply({"params": unflatten(video_params)}, clip))
    vit = np.asarray(image_model.apply({"params": unflatten(image_params)}, image))
    assert np.abs(vit).max() > 0.1
    assert np.abs(ours - vit).max() < 1e-5


def test_vivit_posemb_is_resampled_over_time_for_another_clip_length(tmp_path):
    config = tiny_config()
    _, source = init_params(config, seed=7)
    write_orbax(str(tmp_path / "m1"), source)
    longer = tiny_config(**{"dataset_configs.num_frames": 8})  # 4 temporal slots instead of 2
    _, _, params = _init(longer, str(tmp_path / "m1"))
    src = flat(source)["Transformer/posembed_input/pos_embedding"][0]
    got = params["Transformer/posembed_input/pos_embedding"][0]
    per_frame = GRID * GRID
    assert got.shape == (1 + 4 * per_frame, 16)
    np.testing.assert_array_equal(got[0], src[0])
    np.testing.assert_allclose(got[1:1 + per_frame], src[1:1 + per_frame], atol=1e-6)  # first slot
    np.testing.assert_allclose(got[-per_frame:], src[-per_frame:], atol=1e-6)  # last slot


@pytest.mark.parametrize("key,value", [("positional_embed_size_change", "stretch"),
                                       ("temporal_attention_init", "random")])
def test_unknown_rule_names_the_key(vit_files, key, value):
    config = tiny_config()
    config.init_from[key] = value
    with pytest.raises(CheckpointError, match=f"init_from.{key}='{value}'"):
        _init(config, vit_files["vit_npz"])


@pytest.mark.parametrize("attention", VARIANTS)
def test_every_variant_initializes_from_a_hf_vit(tmp_path, attention):
    from ckpt_layouts import hf_vit
    from vivit.formats.readers import read_checkpoint

    hf_vit(str(tmp_path / "vit"))
    source = read_checkpoint(str(tmp_path / "vit")).params
    model, _, params = _init(tiny_config(attention), str(tmp_path / "vit"))
    enc = "SpatialTransformer" if attention == "factorized_encoder" else "Transformer"
    module = ("MultiHeadDotProductAttention_space" if attention == "factorized_self_attention_block"
              else "MultiHeadDotProductAttention_0")
    np.testing.assert_array_equal(params[f"{enc}/{BLOCK}/{module}/value/kernel"],
                                  source[f"Transformer/{BLOCK}/MultiHeadDotProductAttention_0/value/kernel"])
    assert np.all(np.isfinite(model.apply({"params": unflatten(params)}, random_video())))
