"""A new spatial backbone for Model 2 is added by registering it: no existing module is edited."""

from __future__ import annotations

import flax.linen as nn
import jax
import pytest

from tests.models.tiny import CLIP_SHAPE, NUM_CLASSES, tiny_config
from tests.task_helpers import model_of
from vivit.models.backbones import BACKBONES, Backbone, register_backbone


def mean_patch_frames(model, frames, train):
    """A toy per-frame encoder: the mean of a frame's patches through one Dense layer."""
    del train
    return nn.Dense(frames.shape[-1], name="MeanPatchEncoder")(frames.mean(axis=(1, 2)))


@pytest.fixture
def mean_patch():
    register_backbone("mean_patch", Backbone(encode_frames=mean_patch_frames))
    yield "mean_patch"
    del BACKBONES["mean_patch"]


def test_registered_backbone_replaces_the_spatial_transformer(mean_patch):
    config = tiny_config("factorized_encoder")
    config.model.spatial_transformer.backbone = mean_patch
    model = model_of(config)
    clip = jax.random.normal(jax.random.PRNGKey(0), CLIP_SHAPE)
    variables = model.init(jax.random.PRNGKey(1), clip)
    params = variables["params"]
    assert "MeanPatchEncoder" in params and "SpatialTransformer" not in params
    assert "TemporalTransformer" in params  # the temporal half of Model 2 is unchanged
    assert model.apply(variables, clip).shape == (CLIP_SHAPE[0], NUM_CLASSES)


def test_vit_is_the_default_backbone_with_scenic_names():
    config = tiny_config("factorized_encoder")
    params = model_of(config).init(jax.random.PRNGKey(1), jax.numpy.zeros(CLIP_SHAPE))["params"]
    assert {"SpatialTransformer", "cls_SpatialTransformer", "TemporalTransformer"} <= set(params)


def test_unknown_backbone_names_the_key():
    config = tiny_config("factorized_encoder")
    config.model.spatial_transformer.backbone = "cvt"
    with pytest.raises(ValueError, match=r"model.spatial_transformer.backbone='cvt'.*'vit'"):
        model_of(config)
