"""Writes small checkpoints in the exact upstream file layouts, for the checkpoint tests.

Parameter names and shapes follow the real files: vision_transformer .npz (pre-Linen numbering,
`head`), big_vision .npz (`params/` prefix, `opt/` state, posemb at `pos_embedding` without a class
slot), Scenic msgpack `checkpoint_<step>` (`optimizer/target` or `params`), Orbax (the trainer's
Composite layout), and Hugging Face directories written by `transformers` itself.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization

from vivit.formats.view import flatten, unflatten
from vivit.config import apply_overrides, default_config
from tests.task_helpers import model_of

HIDDEN, HEADS, MLP, LAYERS = 16, 2, 32, 2
PATCH, CROP, FRAMES, TUBELET_T = 8, 16, 4, 2
GRID = CROP // PATCH  # 2x2 patches per frame


def tiny_config(attention: str = "spacetime", **overrides) -> ml_collections.ConfigDict:
    """A 2-layer, width-16 ViViT on 4x16x16 clips (2x2 patches of 8, tubelets of 2 frames)."""
    config = default_config()
    model = config.model
    model.hidden_size = HIDDEN
    model.num_heads, model.mlp_dim, model.num_layers = HEADS, MLP, LAYERS
    for section in (model.spatial_transformer, model.temporal_transformer):
        section.num_heads, section.mlp_dim, section.num_layers = HEADS, MLP, LAYERS
    model.patches.size = (PATCH, PATCH, TUBELET_T)
    model.attention_config.type = attention
    if attention in ("factorized_self_attention_block", "factorized_dot_product_attention"):
        model.classifier = "gap"
    config.dataset_configs.num_frames = FRAMES
    config.dataset_configs.crop_size = CROP
    config.dataset_configs.num_classes = 5
    return apply_overrides(config, overrides)


def init_params(config, seed: int = 0):
    model = model_of(config)
    data = config.dataset_configs
    video = jnp.zeros((1, data.num_frames, data.crop_size, data.crop_size, 3), jnp.float32)
    return model, model.init(jax.random.PRNGKey(seed), video)["params"]


def random_vit(seed: int = 0, classes: int = 7, pre_logits: bool = False,
               class_token: bool = True) -> dict[str, np.ndarray]:
    """A tiny 2D ViT in Scenic/Linen names (what vision_transformer's model defines)."""
    rng = np.random.default_rng(seed)

    def r(*shape):
        return rng.normal(size=shape).astype(np.float32) * 0.2

    tokens = GRID * GRID + (1 if class_token else 0)
    params = {"embedding/kernel": r(PATCH, PATCH, 3, HIDDEN), "embedding/bias": r(HIDDEN),
              "Transformer/posembed_input/pos_embedding": r(1, tokens, HIDDEN),
              "Transformer/encoder_norm/scale": 1 + r(HIDDEN),
              "Transformer/encoder_norm/bias": r(HIDDEN),
              "output_projection/kernel": r(HIDDEN if not pre_logits else 12, classes),
              "output_projection/bias": r(classes)}
    if class_token:
        params["cls"] = r(1, 1, HIDDEN)
    if pre_logits:
        params["pre_logits/kernel"], params["pre_logits/bias"] = r(HIDDEN, 12), r(12)
    for i in range(LAYERS):
        b = f"Transformer/encoderblock_{i}"
        for ln in ("LayerNorm_0", "LayerNorm_1"):
            params[f"{b}/{ln}/scale"], params[f"{b}/{ln}/bias"] = 1 + r(HIDDEN), r(HIDDEN)
        for proj in ("query", "key", "value"):
            params[f"{b}/MultiHeadDotProductAttention_0/{proj}/kernel"] = r(HIDDEN, HEADS, HIDDEN // HEADS)
            params[f"{b}/MultiHeadDotProductAttention_0/{proj}/bias"] = r(HEADS, HIDDEN // HEADS)
        params[f"{b}/MultiHeadDotProductAttention_0/out/kernel"] = r(HEADS, HIDDEN // HEADS, HIDDEN)
        params[f"{b}/MultiHeadDotProductAttention_0/out/bias"] = r(HIDDEN)
        params[f"{b}/MlpBlock_0/Dense_0/kernel"], params[f"{b}/MlpBlock_0/Dense_0/bias"] = r(HIDDEN, MLP), r(MLP)
        params[f"{b}/MlpBlock_0/Dense_1/kernel"], params[f"{b}/MlpBlock_0/Dense_1/bias"] = r(MLP, HIDDEN), r(HIDDEN)
    return params


_PRE_LINEN = {"LayerNorm_0": "LayerNorm_0", "MultiHeadDotProductAttention_0":
              "MultiHeadDotProductAttention_1", "LayerNorm_1": "LayerNorm_2",
              "MlpBlock_0": "MlpBlock_3"}


def write_vit_npz(path: str, vit: dict[str, np.ndarray]) -> str:
    """vision_transformer layout: pre-Linen block numbering, the classifier named `head`."""
    out = {}
    for name, value in vit.items():
        parts = name.split("/")
        if parts[0] == "output_projection":
            parts[0] = "head"
        if len(parts) > 2 and parts[1].startswith("encoderblock_"):
            parts[2] = _PRE_LINEN[parts[2]]
        out["/".join(parts)] = value
    np.savez(path, **out)
    return path


def write_big_vision_npz(path: str, vit: dict[str, np.ndarray], prefix: str = "params/") -> str:
    """big_vision layout: posemb at top-level `pos_embedding` with no class slot, `head`,
    parameters under `params/` and optimizer state under `opt/`."""
    out = {}
    for name, value in vit.items():
        if name == "Transformer/posembed_input/pos_embedding":
            # big_vision's posemb is added before the class token: no slot for it.
            name, value = "pos_embedding", value[:, 1:] if "cls" in vit else value
        name = name.replace("output_projection", "head")
        out[prefix + name] = value
        if prefix:
            out["opt/state/momentum/" + name] = np.zeros_like(value)
    if prefix:
        out["opt/state/step"] = np.asarray(100)
    np.savez(path, **out)
    return path


def write_scenic_msgpack(directory: str, params: dict[str, np.ndarray], step: int = 10,
                         optax: bool = False) -> str:
    """flax.training.checkpoints layout: `checkpoint_<step>`, msgpack of the train state dict."""
    tree = unflatten(params)
    state = {"global_step": step, "model_state": {}, "rng": np.zeros(2, np.uint32),
             "accum_train_time": 1.0}
    if optax:
        state.update(params=tree, opt_state={"0": {"count": np.asarray(step)}})
    else:
        state["optimizer"] = {"target": tree, "state": {"step": step, "param_states": {}}}
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"checkpoint_{step}")
    with open(path, "wb") as handle:
        handle.write(serialization.msgpack_serialize(state))
    return path


def write_orbax(directory: str, params, step: int = 3) -> str:
    """The trainer's layout: a CheckpointManager step with a `state` item holding `params`."""
    manager = ocp.CheckpointManager(
        directory, options=ocp.CheckpointManagerOptions(enable_async_checkpointing=False))
    state = {"step": jnp.asarray(step), "params": jax.tree_util.tree_map(jnp.asarray, params),
             "opt_state": {"mu": jax.tree_util.tree_map(jnp.zeros_like, params)}}
    manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)))
    manager.wait_until_finished()
    manager.close()
    return directory


def hf_vit(directory: str, seed: int = 0, hidden_act: str = "gelu_pytorch_tanh"):
    """A tiny random transformers ViTModel, saved by transformers itself."""
    import torch
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(seed)
    config = ViTConfig(image_size=CROP, patch_size=PATCH, hidden_size=HIDDEN,
                       num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                       intermediate_size=MLP, hidden_act=hidden_act, layer_norm_eps=1e-6)
    model = ViTModel(config).eval()
    model.save_pretrained(directory)
    return model


def hf_vivit(directory: str, seed: int = 0, num_labels: int = 5):
    """A tiny random VivitForVideoClassification, saved by transformers itself."""
    import torch
    from transformers import VivitConfig, VivitForVideoClassification

    torch.manual_seed(seed)
    config = VivitConfig(image_size=CROP, num_frames=FRAMES, tubelet_size=[TUBELET_T, PATCH, PATCH],
                         hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                         intermediate_size=MLP, num_labels=num_labels)
    model = VivitForVideoClassification(config).eval()
    # A random init keeps the class token and posemb small; make them matter in the parity test.
    with torch.no_grad():
        model.vivit.embeddings.cls_token.normal_(0, 0.5)
        model.vivit.embeddings.position_embeddings.normal_(0, 0.5)
        model.classifier.weight.normal_(0, 0.5)
    model.save_pretrained(directory)
    return model


def random_video(seed: int = 0, batch: int = 2) -> np.ndarray:
    """[batch, time, height, width, 3] in [-1, 1]."""
    return np.random.default_rng(seed).uniform(-1, 1, (batch, FRAMES, CROP, CROP, 3)).astype(np.float32)


def flat(params) -> dict[str, np.ndarray]:
    return flatten(jax.device_get(params))
