"""What each attention variant lets tokens see, the tokenisers, presets and config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.models.tiny import tiny_config
from vivit.config import default_config
from tests.task_helpers import model_of
from vivit.models import apply_size, parse_size
from vivit.models.embeddings import (
    approximate_rank_pooling_weights, inflate_2d_kernel, sample_frames_uniformly)
from vivit.models.encoder import Encoder, TransformerSize


def _reach(attention_type, **kwargs):
    """Which [time, space] tokens change when token (0, 0) changes, after one encoder block."""
    encoder = Encoder(TransformerSize(1, 2, 8), attention_type=attention_type, temporal_dims=3,
                      **kwargs)
    tokens = jax.random.normal(jax.random.PRNGKey(0), (1, 3 * 4, 4))
    params = encoder.init(jax.random.PRNGKey(1), tokens, train=False)
    changed = tokens.at[0, 0].add(jnp.array([1.0, -2.0, 0.5, 3.0]))
    delta = encoder.apply(params, changed, train=False) - encoder.apply(params, tokens, train=False)
    return np.abs(np.asarray(delta)).reshape(3, 4, 4).max(-1) > 1e-6


def test_model4_heads_see_only_their_own_row_and_column():
    reach = _reach("factorized_dot_product_attention")
    expected = np.zeros((3, 4), bool)
    expected[0, :] = True  # same frame (space heads)
    expected[:, 0] = True  # same position (time heads)
    np.testing.assert_array_equal(reach, expected)


def test_spacetime_and_model3_reach_every_token_in_one_block():
    assert _reach("spacetime").all()
    assert _reach("factorized_self_attention_block", attention_order="space_time").all()
    assert _reach("factorized_self_attention_block", attention_order="time_space").all()


def test_model3_with_zero_attention_kernels_is_a_residual_mlp():
    # Paper: zero-initialized attention makes the block start as residual + MLP per token.
    reach = _reach("factorized_self_attention_block", attention_kernel_init_method="zero")
    expected = np.zeros((3, 4), bool)
    expected[0, 0] = True
    np.testing.assert_array_equal(reach, expected)


def test_central_frame_kernel_on_a_repeated_image_equals_the_image_kernel():
    image = jax.random.normal(jax.random.PRNGKey(0), (1, 8, 8, 3))
    kernel_2d = jax.random.normal(jax.random.PRNGKey(1), (8, 8, 3, 5))
    clip = jnp.repeat(image[:, None], 4, axis=1)  # [1, 4, 8, 8, 3]
    conv3d = jax.lax.conv_general_dilated(
        clip, inflate_2d_kernel(kernel_2d, 4, "central_frame_initializer"), (4, 8, 8), "VALID",
        dimension_numbers=("NTHWC", "THWIO", "NTHWC"))
    conv2d = jax.lax.conv_general_dilated(
        image, kernel_2d, (8, 8), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    np.testing.assert_allclose(conv3d[:, 0], conv2d, rtol=1e-5, atol=1e-5)
    inflated = inflate_2d_kernel(kernel_2d, 4, "average_frame_initializer")
    np.testing.assert_allclose(inflated.sum(0), kernel_2d, rtol=1e-6, atol=1e-6)  # Eq. 8


def test_arp_weights_follow_bilen_eq3():
    # T = 3: alpha_t = 2(T - t + 1) - (T + 1)(H_T - H_{t-1}); H = 0, 1, 1.5, 11/6.
    np.testing.assert_allclose(
        approximate_rank_pooling_weights(3),
        [6 - 4 * 11 / 6, 4 - 4 * (11 / 6 - 1), 2 - 4 * (11 / 6 - 1.5)])
    with pytest.raises(ValueError, match="kernel_init_method"):
        inflate_2d_kernel(jnp.zeros((2, 2, 3, 4)), 2, "nearest")


def test_uniform_frame_sampling_picks_evenly_spaced_frames():
    video = jnp.arange(12.0).reshape(1, 12, 1, 1, 1)
    np.testing.assert_array_equal(sample_frames_uniformly(video, 3).ravel(), [3, 6, 9])
    np.testing.assert_array_equal(sample_frames_uniformly(video, 20).ravel(), np.arange(12))


def test_frame_sampling_uses_a_2d_embedding_per_sampled_frame():
    config = tiny_config("factorized_dot_product_attention", method="temporal_sampling")
    model = model_of(config)
    clip = jnp.zeros((1, 4, 16, 16, 3))
    params = model.init(jax.random.PRNGKey(0), clip)["params"]
    assert params["embedding"]["kernel"].shape == (8, 8, 3, 16)
    assert params["Transformer"]["posembed_input"]["pos_embedding"].shape == (1, 2 * 2 * 2, 16)


def test_presets_match_vit_sizes():
    assert parse_size("B/16x2")[:2] == (768, TransformerSize(12, 12, 3072))
    assert parse_size("H/14x2")[2] == (14, 14, 2)
    assert parse_size("S/16")[2] == (16, 16)
    model = apply_size(default_config().model, "L/16x2")
    assert (model.hidden_size, model.num_layers, model.num_heads, model.mlp_dim) == (1024, 24, 16, 4096)
    assert model.temporal_transformer.num_layers == 4
    with pytest.raises(ValueError, match="Unknown model size 'X/16'"):
        parse_size("X/16")


def test_stochastic_depth_drops_whole_examples_with_linear_rates():
    config = tiny_config("spacetime", num_layers=3, stochastic_droplayer_rate=0.5)
    model = model_of(config)
    clip = jax.random.normal(jax.random.PRNGKey(0), (64, 4, 16, 16, 3))
    variables = model.init(jax.random.PRNGKey(0), clip)
    # First block: rate 0, so it never drops; the last block drops half the examples.
    _, state = model.apply(variables, clip, train=True, rngs={"dropout": jax.random.PRNGKey(5)},
                           capture_intermediates=lambda mdl, _: type(mdl).__name__ == "StochasticDepth",
                           mutable=["intermediates"])
    blocks = state["intermediates"]["Transformer"]
    for index, rate in ((0, 0.0), (2, 0.5)):
        outputs = blocks[f"encoderblock_{index}"]["StochasticDepth_0"]["__call__"][0]
        dropped = np.mean(np.all(np.asarray(outputs).reshape(64, -1) == 0, axis=1))
        assert abs(dropped - rate) < 0.2, (index, dropped)


INVALID = [
    (dict(attention="factorized_self_attention_block", classifier="token"), "model.classifier='token'"),
    (dict(attention="factorized_dot_product_attention", classifier="token"), "model.classifier='token'"),
    (dict(attention="factorized_dot_product_attention", num_heads=1), "model.num_heads=1 must be even"),
    (dict(attention="spacetime", num_heads=3), "model.num_heads=3 must divide model.hidden_size"),
    (dict(attention="spacetime", classifier="cls"), "model.classifier='cls'"),
    (dict(attention="axial"), "model.attention_config.type='axial'"),
    (dict(attention="spacetime", patches=(16, 16)), r"model.patches.size=\(16, 16\) must be \(h, w, t\)"),
    (dict(attention="spacetime", method="temporal_sampling", n_sampled_frames=None),
     "n_sampled_frames must be a positive integer"),
    (dict(attention="spacetime", method="optical_flow"), "temporal_encoding_config.method"),
    (dict(attention="spacetime", kernel_init_method="random"), "kernel_init_method='random'"),
    (dict(attention="factorized_self_attention_block", attention_order="spacetime"),
     "attention_order='spacetime'"),
    (dict(attention="spacetime", dtype="float16"), "model_dtype_str='float16'"),
    (dict(attention="spacetime", dropout_rate=1.5), "model.dropout_rate=1.5"),
    (dict(attention="spacetime", num_classes=None), "dataset_configs.num_classes"),
    (dict(attention="spacetime", model_name="vivit_detection"), "model_name='vivit_detection'"),
    (dict(attention="spacetime", model_name="vivit_multihead_classification"),
     "dataset_configs.class_splits"),
    (dict(attention="factorized_encoder", spatial_heads=None), "model.spatial_transformer.num_heads"),
]


@pytest.mark.parametrize("case,message", INVALID, ids=[m for _, m in INVALID])
def test_invalid_combinations_name_the_config_key(case, message):
    config = tiny_config(case["attention"], classifier=case.get("classifier"),
                         method=case.get("method", "3d_conv"))
    if "num_heads" in case:
        config.model.num_heads = case["num_heads"]
    if "patches" in case:
        config.model.patches.size = case["patches"]
    if "n_sampled_frames" in case:
        config.model.temporal_encoding_config.n_sampled_frames = case["n_sampled_frames"]
    if "kernel_init_method" in case:
        config.model.temporal_encoding_config.kernel_init_method = case["kernel_init_method"]
    if "attention_order" in case:
        config.model.attention_config.attention_order = case["attention_order"]
    if "dtype" in case:
        config.model_dtype_str = case["dtype"]
    if "dropout_rate" in case:
        config.model.dropout_rate = case["dropout_rate"]
    if "num_classes" in case:
        config.dataset_configs.num_classes = case["num_classes"]
    if "model_name" in case:
        config.model_name = case["model_name"]
    if "spatial_heads" in case:
        config.model.spatial_transformer.num_heads = case["spatial_heads"]
    with pytest.raises(ValueError, match=message):
        model_of(config)


def test_unknown_model_key_is_rejected_with_a_suggestion():
    import ml_collections
    config = tiny_config("spacetime")
    config.model.attention_config = ml_collections.ConfigDict(
        dict(config.model.attention_config.to_dict(), attention_ordr="space_time"))
    with pytest.raises(ValueError, match="Did you mean 'model.attention_config.attention_order'"):
        model_of(config)
    with pytest.raises(AttributeError):
        config.model.num_layer = 3  # the default config is locked
