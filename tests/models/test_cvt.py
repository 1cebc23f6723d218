"""CvT: logits match Hugging Face's on a tiny random checkpoint; CvT-13 has HF's parameter count."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from vivit.models.cvt import CVT_VARIANTS, CvTClassifier, stages_from_hf_config
from vivit.formats.readers import read_checkpoint
from vivit.formats.view import unflatten

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# HF indexes its per-layer drop-path list by stage, so stage i needs depth > i.
TINY = dict(embed_dim=[8, 12, 16], num_heads=[1, 2, 2], depth=[1, 2, 3], num_labels=5,
            patch_sizes=[7, 3, 3], patch_stride=[4, 2, 2], patch_padding=[2, 1, 1])


def _tiny_hf(directory, safe: bool):
    torch.manual_seed(0)
    model = transformers.CvtForImageClassification(transformers.CvtConfig(**TINY)).eval()
    # Non-trivial BatchNorm statistics, so folding them is tested.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    model.save_pretrained(directory, safe_serialization=safe)
    return model


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "pytorch_bin"])
def test_logits_match_huggingface(tmp_path, safe):
    hf = _tiny_hf(tmp_path, safe)
    view = read_checkpoint(str(tmp_path))
    assert view.format == "huggingface"
    images = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        expected = hf(torch.from_numpy(images)).logits.numpy()
    model = CvTClassifier(stages_from_hf_config(hf.config.to_dict()), num_classes=5)
    params = unflatten(view.params)
    ours = model.apply({"params": params}, images.transpose(0, 2, 3, 1))
    np.testing.assert_array_less(np.abs(np.asarray(ours) - expected).max(), 1e-4)
    # Every parameter is loaded and has the shape our model creates.
    shapes = jax.eval_shape(model.init, jax.random.key(0), images.transpose(0, 2, 3, 1))["params"]
    assert jax.tree.map(lambda s: s.shape, shapes) == jax.tree.map(np.shape, params)


@pytest.mark.parametrize("variant", ["cvt-13", "cvt-21", "cvt-w24"])
def test_parameter_count_equals_huggingface(variant):
    depth = [s.depth for s in CVT_VARIANTS[variant]]
    embed = [s.embed_dim for s in CVT_VARIANTS[variant]]
    heads = [s.num_heads for s in CVT_VARIANTS[variant]]
    config = transformers.CvtConfig(depth=depth, embed_dim=embed, num_heads=heads, num_labels=1000)
    with torch.device("meta"):
        hf_count = sum(p.numel() for p in transformers.CvtForImageClassification(config).parameters())
    model = CvTClassifier(CVT_VARIANTS[variant], num_classes=1000)
    shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros((1, 224, 224, 3), np.float32))
    ours = sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes["params"]))
    assert ours == hf_count
    assert stages_from_hf_config(config.to_dict()) == CVT_VARIANTS[variant]


def _fe_config(*overrides: str):
    """configs/demo_cvt_fe.py with a three-stage 'cvt-tiny' backbone (tubelets of 2 frames)."""
    from vivit.config import load_config

    return load_config("configs/demo_cvt_fe.py",
                       ["model.spatial_transformer.backbone=cvt-tiny", *overrides])


@pytest.mark.parametrize("overrides, kernel", [
    ((), (2, 7, 7, 3, 16)),  # tubelets of model.patches.size[2] = 2 frames
    (("model.patches.size=(8, 8, 1)",), (7, 7, 3, 16)),  # one frame each
], ids=["tubelets", "frames"])
def test_factorized_encoder_takes_raw_pixels_into_its_cvt_backbone(overrides, kernel):
    from tests.task_helpers import model_of

    model = model_of(_fe_config(*overrides))
    video = np.zeros((2, 8, 32, 32, 3), np.float32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), video)["params"]
    assert "CvT" in shapes and "embedding" not in shapes and "SpatialTransformer" not in shapes
    assert shapes["CvT"]["stage_0_patch_embed"]["kernel"].shape == kernel
    # One temporal position per tubelet (or frame), and the class token's.
    frames = 8 // kernel[0] if len(kernel) == 5 else 8
    assert shapes["TemporalTransformer"]["posembed_input"]["pos_embedding"].shape[1] == frames + 1
    logits = jax.eval_shape(model.apply, {"params": shapes}, video)
    assert logits.shape == (2, 10)


def test_cvt_on_a_tubelet_with_the_central_frame_kernel_is_the_image_cvt_on_that_frame():
    """Inflating the image kernel with central_frame_initializer (paper Eq. 9) keeps the image
    model: a tubelet's features are the image CvT's features of its frame t // 2."""
    from vivit.models.cvt import CvTEncoder
    from vivit.models.embeddings import inflate_2d_kernel

    stages = CVT_VARIANTS["cvt-tiny"]
    frames = np.random.default_rng(0).uniform(-1, 1, (3, 2, 32, 32, 3)).astype(np.float32)
    image_params = CvTEncoder(stages).init(jax.random.key(0), frames[:, 1])["params"]
    tubelet_params = jax.tree.map(lambda x: x, image_params)
    embed = dict(image_params["stage_0_patch_embed"])
    embed["kernel"] = inflate_2d_kernel(embed["kernel"], 2, "central_frame_initializer")
    tubelet_params["stage_0_patch_embed"] = embed
    image = CvTEncoder(stages).apply({"params": image_params}, frames[:, 1])
    tubelet = CvTEncoder(stages).apply({"params": tubelet_params}, frames)
    np.testing.assert_allclose(np.asarray(tubelet), np.asarray(image), atol=1e-5)
    # The other frame matters once its kernel is not zero.
    embed["kernel"] = inflate_2d_kernel(embed["kernel"][1], 2, "average_frame_initializer")
    moved = CvTEncoder(stages).apply({"params": tubelet_params}, frames)
    assert np.abs(np.asarray(moved) - np.asarray(image)).max() > 1e-2


def test_cvt_backbone_refuses_clips_that_do_not_split_into_its_tubelets():
    from tests.task_helpers import model_of

    with pytest.raises(ValueError, match=r"model.patches.size\[2\]=2 \(tubelet time\) must "
                       r"divide dataset_configs.num_frames=7"):
        model_of(_fe_config("dataset_configs.num_frames=7"))


def test_cvt_backbone_ignores_the_spatial_patch_size():
    """CvT patches pixels with its own convolutions: a crop the ViT patch size does not divide is
    fine for it (and refused for the ViT backbone)."""
    from tests.task_helpers import model_of

    model_of(_fe_config("dataset_configs.crop_size=36"))
    with pytest.raises(ValueError, match=r"model.patches.size\[0\]=8 \(patch height\) does not "
                       r"divide dataset_configs.crop_size=36"):
        model_of(_fe_config("dataset_configs.crop_size=36",
                               "model.spatial_transformer.backbone=vit",
                               "model.spatial_transformer.num_layers=1",
                               "model.spatial_transformer.num_heads=4",
                               "model.spatial_transformer.mlp_dim=64"))


def test_model_spatial_backbone_is_another_name_for_the_backbone():
    from vivit.config import load_config
    from tests.task_helpers import model_of

    config = load_config("configs/demo_cvt_fe.py", ["model.spatial_transformer.backbone=vit",
                                                     "model.spatial_backbone=cvt-tiny"])
    shapes = jax.eval_shape(model_of(config).init, jax.random.key(0),
                            np.zeros((1, 8, 32, 32, 3), np.float32))["params"]
    assert set(shapes["CvT"]) == set(jax.eval_shape(
        model_of(_fe_config()).init, jax.random.key(0),
        np.zeros((1, 8, 32, 32, 3), np.float32))["params"]["CvT"])
    with pytest.raises(ValueError, match=r"model.spatial_backbone='cvt-13' and "
                       r"model.spatial_transformer.backbone='cvt-tiny' disagree"):
        model_of(_fe_config("model.spatial_backbone=cvt-13"))
    with pytest.raises(ValueError, match=r"model.spatial_backbone='cvt-13' is only read by the "
                       r"factorized encoder .*not 'spacetime'"):
        model_of(load_config("configs/demo.py", ["model.spatial_backbone=cvt-13"]))


def test_cvt_backbone_with_uniform_frame_sampling_encodes_the_sampled_frames():
    from tests.task_helpers import model_of

    model = model_of(_fe_config(
        "model.temporal_encoding_config.method=temporal_sampling",
        "model.temporal_encoding_config.n_sampled_frames=4", "model.patches.size=(8, 8)"))
    video = np.zeros((2, 8, 32, 32, 3), np.float32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), video)["params"]
    assert shapes["CvT"]["stage_0_patch_embed"]["kernel"].shape == (7, 7, 3, 16)
    assert shapes["TemporalTransformer"]["posembed_input"]["pos_embedding"].shape[1] == 4 + 1


def test_cvt_checkpoint_initializes_the_image_model_and_the_factorized_encoder(tmp_path):
    from tests.task_helpers import model_of
    from vivit.pretrained.initialize import initialize_from_view

    stages = CVT_VARIANTS["cvt-tiny"]
    _tiny_hf_like(tmp_path, stages)
    view = read_checkpoint(str(tmp_path))
    config = _fe_config()
    # The factorized encoder: every CvT weight from the image checkpoint, the rest fresh.
    fe = model_of(config)
    fe_params = fe.init(jax.random.key(0), np.zeros((1, 8, 32, 32, 3), np.float32))["params"]
    new, report = initialize_from_view(fe_params, view, config)
    assert np.array_equal(new["CvT"]["stage_2_cls"], view.params["encoder/stage_2_cls"])
    assert np.array_equal(new["CvT"]["stage_1_block_1"]["mlp_in"]["kernel"],
                          view.params["encoder/stage_1_block_1/mlp_in/kernel"])
    # The image kernel is inflated over the tubelet's 2 frames (central frame by default).
    source = view.params["encoder/stage_0_patch_embed/kernel"]
    assert new["CvT"]["stage_0_patch_embed"]["kernel"].shape == (2,) + source.shape
    assert np.array_equal(new["CvT"]["stage_0_patch_embed"]["kernel"][1], source)
    assert not np.any(new["CvT"]["stage_0_patch_embed"]["kernel"][0])
    assert report.adapted["CvT/stage_0_patch_embed/kernel"] == "central_frame_initializer"
    assert all(p.startswith(("TemporalTransformer", "cls_Temporal", "output_projection"))
               for p in report.fresh)
    assert np.array_equal(new["TemporalTransformer"]["encoder_norm"]["scale"],
                          fe_params["TemporalTransformer"]["encoder_norm"]["scale"])
    # The image model: the head too (same class count).
    image = CvTClassifier(stages, num_classes=5)
    image_params = image.init(jax.random.key(1), np.zeros((1, 32, 32, 3), np.float32))["params"]
    new, report = initialize_from_view(image_params, view, config)
    assert report.fresh == []
    assert np.array_equal(new["head"]["kernel"], view.params["head/kernel"])


def _tiny_hf_like(directory, stages):
    torch.manual_seed(1)
    config = transformers.CvtConfig(
        embed_dim=[s.embed_dim for s in stages], num_heads=[s.num_heads for s in stages],
        depth=[s.depth for s in stages], num_labels=5)
    model = transformers.CvtForImageClassification(config)
    model.save_pretrained(directory)
    return model


def _image_config(*overrides: str):
    """configs/demo_cvt_fe.py turned into the CvT image model (5 classes)."""
    from vivit.config import load_config

    return load_config("configs/demo_cvt_fe.py", [
        "model_name=cvt_classification", "dataset_configs.num_classes=5",
        *overrides])


@pytest.mark.parametrize("variant", ["cvt-13", "cvt-21", "cvt-w24"])
def test_build_model_makes_the_cvt_image_model_of_model_variant(variant):
    from tests.task_helpers import model_of

    model = model_of(_image_config(f"model.variant={variant}"))
    images = np.zeros((2, 64, 64, 3), np.float32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), images)["params"]
    expected = jax.eval_shape(CvTClassifier(CVT_VARIANTS[variant], num_classes=5).init,
                              jax.random.key(0), images)["params"]
    assert jax.tree.map(lambda s: s.shape, shapes) == jax.tree.map(lambda s: s.shape, expected)
    assert jax.eval_shape(model.apply, {"params": shapes}, images).shape == (2, 5)


@pytest.mark.parametrize("variant", ["cvt-99", None])
def test_unknown_or_missing_variant_is_refused_naming_model_variant(variant):
    from tests.task_helpers import model_of

    config = _image_config()
    config.model.variant = variant
    with pytest.raises(ValueError, match=r"model.variant=.*expected one of \(.*'cvt-13'") as err:
        model_of(config)
    assert "\n" not in str(err.value)


def test_model_variant_on_a_video_model_is_refused():
    from tests.task_helpers import model_of

    config = _fe_config()
    config.model.variant = "cvt-13"
    with pytest.raises(ValueError, match="model.variant='cvt-13' is only read with model_name="):
        model_of(config)


def test_init_from_an_hf_checkpoint_gives_the_image_model_hf_logits(tmp_path):
    from tests.task_helpers import model_of
    from vivit.pretrained.initialize import initialize

    hf = _tiny_hf_like(tmp_path, CVT_VARIANTS["cvt-tiny"]).eval()
    config = _image_config("model.variant=cvt-tiny",
                           f"init_from.checkpoint_path={tmp_path}")
    model = model_of(config)
    images = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype(np.float32)
    params = initialize(model.init(jax.random.key(0), images)["params"], config)
    with torch.no_grad():
        expected = hf(torch.from_numpy(images.transpose(0, 3, 1, 2))).logits.numpy()
    ours = np.asarray(model.apply({"params": params}, images))
    np.testing.assert_array_less(np.abs(ours - expected).max(), 1e-4)


def test_matmul_count_equals_torch_flop_counter_on_hf_cvt13_and_the_paper():
    """`matmul_gmacs` counts what PyTorch's FlopCounterMode counts (convolutions and matrix
    products) on HF's CvT-13, and that is the paper's 4.5 GFLOPs."""
    from torch.utils.flop_counter import FlopCounterMode

    from vivit.flops import matmul_gmacs

    stages = CVT_VARIANTS["cvt-13"]
    config = transformers.CvtConfig(depth=[s.depth for s in stages], num_labels=1000,
                                    embed_dim=[s.embed_dim for s in stages],
                                    num_heads=[s.num_heads for s in stages])
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        transformers.CvtForImageClassification(config).eval()(torch.zeros(1, 3, 224, 224))
    model = CvTClassifier(stages, num_classes=1000)
    ours = matmul_gmacs(model, (1, 224, 224, 3))
    assert ours == pytest.approx(counter.get_total_flops() / 2 / 1e9, rel=1e-6)
    assert ours == pytest.approx(4.5, rel=0.02)


def test_image_model_puts_stochastic_depth_in_the_last_stage_and_refuses_bfloat16():
    from tests.task_helpers import model_of

    model = model_of(_image_config("model.variant=cvt-13", "model.stochastic_droplayer_rate=0.1"))
    assert [s.drop_path_rate for s in model.stages] == [0.0, 0.0, 0.1]
    with pytest.raises(ValueError, match="model_dtype_str"):
        model_of(_image_config("model.variant=cvt-13", "model_dtype_str=bfloat16"))
