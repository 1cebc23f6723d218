"""A new attention type is added by registering it: no existing module is edited."""

from __future__ import annotations

import pathlib
from typing import Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.documented_example import shown_in_docs
from tests.models.tiny import CLIP_SHAPE, NUM_CLASSES, tiny_config
from tests.task_helpers import model_of
from vivit.models.attention_types import (
    ATTENTION_TYPES,
    AttentionType,
    BlockOptions,
    register_attention_type,
)
from vivit.models.layers import EncoderBlock


# --- The worked example of docs/architecture.md ("Adding an attention type"). ---
def time_only_attention(query, key, value, **kwargs):
    """Each patch attends only to itself in other frames: [batch, time, space, heads, dim]."""
    moved = [jnp.moveaxis(t, 1, 2) for t in (query, key, value)]  # [batch, space, time, h, d]
    return jnp.moveaxis(nn.dot_product_attention(*moved, **kwargs), 2, 1)


def time_only_block(options: BlockOptions):
    return EncoderBlock, dict(attention_fn=time_only_attention)


TIME_ONLY = AttentionType(block=time_only_block, token_layout="time_space", class_token=False,
                          flops_note="O(S T'^2): no attention across space.")
# --- End of the example. ---


@pytest.fixture
def time_only() -> Iterator[str]:
    register_attention_type("time_only", TIME_ONLY)
    yield "time_only"
    del ATTENTION_TYPES["time_only"]


def test_registered_attention_type_builds_and_runs(time_only):
    config = tiny_config(time_only, classifier="gap")
    clip = jax.random.normal(jax.random.PRNGKey(0), CLIP_SHAPE)
    variables = model_of(config).init(jax.random.PRNGKey(1), clip)
    logits = model_of(config).apply(variables, clip)
    assert logits.shape == (CLIP_SHAPE[0], NUM_CLASSES)
    # Scenic's names: the registered block is stacked as encoderblock_{i} of `Transformer`.
    assert "encoderblock_0" in variables["params"]["Transformer"]
    config.model.return_preclassifier = True
    model = model_of(config)
    tokens = model.apply(variables, clip)  # [batch, time' x space, features], time-major
    # Only attention mixes tokens; with time-only attention a change in the top-left patch of
    # every frame leaves the tokens of every other patch unchanged, but not its own.
    changed = model.apply(variables, clip.at[:, :, :8, :8].add(1.0))
    per_patch = np.abs(np.asarray(changed - tokens)).reshape(CLIP_SHAPE[0], 2, 4, -1).max(
        axis=(0, 1, 3))  # [space]
    assert per_patch[0] > 1e-3
    np.testing.assert_allclose(per_patch[1:], 0.0, atol=1e-6)


def test_spacetime_mixes_patches_so_the_check_above_means_something():
    config = tiny_config("spacetime", classifier="gap")
    clip = jax.random.normal(jax.random.PRNGKey(0), CLIP_SHAPE)
    variables = model_of(config).init(jax.random.PRNGKey(1), clip)
    config.model.return_preclassifier = True
    model = model_of(config)
    changed = model.apply(variables, clip.at[:, :, :8, :8].add(1.0))
    difference = np.abs(np.asarray(changed - model.apply(variables, clip)))
    assert difference.reshape(CLIP_SHAPE[0], 2, 4, -1)[:, :, 1:].max() > 1e-3


def test_registered_type_without_class_token_refuses_the_token_classifier(time_only):
    with pytest.raises(ValueError, match="model.classifier='token' is not allowed"):
        model_of(tiny_config(time_only, classifier="token"))


def test_a_name_is_registered_once(time_only):
    with pytest.raises(ValueError, match="'time_only' is already registered"):
        register_attention_type(time_only, TIME_ONLY)


def test_the_documented_example_is_this_file():
    """docs/architecture.md shows the example above; keep the two the same code."""
    shown = shown_in_docs("Attention types")
    source = pathlib.Path(__file__).read_text()
    for definition in ("def time_only_attention", "def time_only_block"):
        block = shown[shown.index(definition):].split("\n\n")[0]
        assert block in source, definition
    assert "token_layout=\"time_space\", class_token=False" in shown


def test_flops_command_shows_the_registered_flops_note(time_only):
    from vivit.flops import ModelCost, describe

    text = describe(tiny_config(time_only, classifier="gap"), ModelCost(1_000_000, 2.0))
    assert text.splitlines() == ["parameters: 1.0 M", "GFLOPs per clip: 2.0",
                                 "attention: O(S T'^2): no attention across space."]
