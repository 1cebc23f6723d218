"""CvT (Wu et al. 2021, "CvT: Introducing Convolutions to Vision Transformers") in Flax.

Three stages; each embeds its input with a strided convolution (+ LayerNorm) and runs blocks whose
query/key/value come from a depthwise convolution + BatchNorm over the token grid. The class token
joins only where `cls_token` says (the last stage for CvT-13/21/W24).

BatchNorm is kept in its inference form: a per-channel affine (`scale`, `bias`) after the
depthwise kernel, with no running statistics. Loading a Hugging Face checkpoint folds its running
mean/variance into the kernel and the affine (`vivit.formats.readers.hf_cvt`), so logits match
and the trainable parameter count equals Hugging Face's; the trainer carries only `params`.

Inside ViViT's factorised encoder a CvT may see a tubelet instead of one frame: pixels
[batch, t, height, width, 3] make the first stage's embedding a 3D convolution over the t frames
(kernel [t, k, k, 3, embed_dim]), inflated from an image kernel like ViViT's tubelet embedding.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from vivit.models.embeddings import tubelet_kernel_init

# LayerNorm epsilon of the reference implementation (PyTorch's default).
LAYER_NORM_EPS = 1e-5
# Fresh kernels (dense and convolution) are LeCun normal, Flax's default, not the reference's
# truncated normal with std 0.02 (Hugging Face `CvtPreTrainedModel._init_weights`): trained from
# scratch on the synthetic clips, a CvT drawn with std 0.02 stayed at chance where the LeCun draw
# learns (docs/models.md). Checkpoints replace both.
KERNEL_INIT = nn.initializers.lecun_normal()


@dataclasses.dataclass(frozen=True)
class CvTStage:
    """One stage's hyperparameters (the names follow Hugging Face's `CvtConfig` fields)."""

    embed_dim: int
    num_heads: int
    depth: int
    patch_size: int
    patch_stride: int
    patch_padding: int
    cls_token: bool = False
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    kernel_qkv: int = 3
    padding_q: int = 1
    stride_q: int = 1
    padding_kv: int = 1
    stride_kv: int = 2
    drop_path_rate: float = 0.0


def _stages(embed: tuple, heads: tuple, depth: tuple) -> tuple[CvTStage, ...]:
    patch = ((7, 4, 2), (3, 2, 1), (3, 2, 1))
    return tuple(CvTStage(e, h, d, *p, cls_token=(i == 2))
                 for i, (e, h, d, p) in enumerate(zip(embed, heads, depth, patch)))


# The paper's Table 2 (and microsoft/cvt-13, cvt-21, cvt-w24 on the Hub).
CVT_VARIANTS: dict[str, tuple[CvTStage, ...]] = {
    "cvt-13": _stages((64, 192, 384), (1, 3, 6), (1, 2, 10)),
    "cvt-21": _stages((64, 192, 384), (1, 3, 6), (1, 4, 16)),
    "cvt-w24": _stages((192, 768, 1024), (3, 12, 16), (2, 2, 20)),
    # Not in the paper: a small CvT for the synthetic demo and the tests (Hugging Face builds
    # only depths with stage i deeper than i, hence 1, 2, 3).
    "cvt-tiny": _stages((16, 32, 64), (1, 2, 4), (1, 2, 3)),
    # Not in the paper: one stage (64 wide, 4 heads, 2 blocks, the class token) for the synthetic
    # demo's factorised encoder. Trained from scratch on those clips, a three-stage CvT (cvt-tiny,
    # or wider, or at 64x64) stays at chance within 300 steps; one stage learns (docs/models.md).
    "cvt-tiny-1stage": (CvTStage(64, 4, 2, 7, 4, 2, cls_token=True),),
}


def stages_from_hf_config(config: dict) -> tuple[CvTStage, ...]:
    """Stages of a Hugging Face `CvtConfig` (its `config.json` as a dict)."""
    fields = [f.name for f in dataclasses.fields(CvTStage) if f.name != "drop_path_rate"]
    methods = config.get("qkv_projection_method", ["dw_bn"] * len(config["depth"]))
    if any(m != "dw_bn" for m in methods):
        raise ValueError(f"CvT qkv_projection_method={methods!r}: only 'dw_bn' is supported.")
    names = {"patch_size": "patch_sizes"}
    return tuple(
        CvTStage(**{f: config[names.get(f, f)][i] for f in fields})
        for i in range(len(config["depth"])))


class DepthwiseProjection(nn.Module):
    """Depthwise conv + BatchNorm (inference form): [b, h, w, c] -> [b, h' * w', c]."""

    kernel: int
    stride: int
    padding: int

    @nn.compact
    def __call__(self, grid: jax.Array) -> jax.Array:
        channels = grid.shape[-1]
        grid = nn.Conv(channels, (self.kernel, self.kernel), strides=self.stride,
                       padding=[(self.padding, self.padding)] * 2, feature_group_count=channels,
                       use_bias=False, kernel_init=KERNEL_INIT, name="conv")(grid)
        scale = self.param("scale", nn.initializers.ones, (channels,))
        bias = self.param("bias", nn.initializers.zeros, (channels,))
        grid = grid * scale + bias
        return grid.reshape(grid.shape[0], -1, channels)


class ConvAttention(nn.Module):
    """Multi-head attention whose q/k/v are convolutional projections of the token grid."""

    stage: CvTStage
    attention_dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, tokens: jax.Array, height: int, width: int, train: bool) -> jax.Array:
        s = self.stage
        dim = tokens.shape[-1]
        if s.cls_token:
            cls, tokens = tokens[:, :1], tokens[:, 1:]
        grid = tokens.reshape(tokens.shape[0], height, width, dim)
        projected = {}
        for name, stride, padding in (("query", s.stride_q, s.padding_q),
                                      ("key", s.stride_kv, s.padding_kv),
                                      ("value", s.stride_kv, s.padding_kv)):
            x = DepthwiseProjection(s.kernel_qkv, stride, padding, name=f"conv_{name}")(grid)
            if s.cls_token:
                x = jnp.concatenate([cls, x], axis=1)
            x = nn.Dense(dim, use_bias=s.qkv_bias, kernel_init=KERNEL_INIT, name=name)(x)
            projected[name] = x.reshape(*x.shape[:2], s.num_heads, dim // s.num_heads)
        # The reference scales by the full width (embed_dim ** -0.5), not the head width.
        logits = jnp.einsum("bqhd,bkhd->bhqk", projected["query"], projected["key"]) * dim ** -0.5
        weights = jax.nn.softmax(logits, axis=-1)
        weights = nn.Dropout(self.attention_dropout_rate)(weights, deterministic=not train)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, projected["value"])
        return nn.Dense(dim, kernel_init=KERNEL_INIT, name="out")(out.reshape(*out.shape[:2], dim))


class DropPath(nn.Module):
    """Stochastic depth: drops a whole example's residual branch with probability `rate`."""

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if not train or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = jax.random.bernoulli(self.make_rng("dropout"), keep, (x.shape[0],) + (1,) * (x.ndim - 1))
        return jnp.where(mask, x / keep, 0.0)


class CvTBlock(nn.Module):
    """Pre-norm block: x + attn(LN(x)), then (x + MLP(LN(x))), each branch with drop path."""

    stage: CvTStage
    drop_path_rate: float = 0.0
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, tokens: jax.Array, height: int, width: int, train: bool) -> jax.Array:
        dim = tokens.shape[-1]
        drop_path = DropPath(self.drop_path_rate)
        x = nn.LayerNorm(LAYER_NORM_EPS, name="norm_before")(tokens)
        x = ConvAttention(self.stage, self.attention_dropout_rate, name="attention")(
            x, height, width, train)
        x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
        tokens = tokens + drop_path(x, train)
        x = nn.LayerNorm(LAYER_NORM_EPS, name="norm_after")(tokens)
        x = nn.Dense(int(dim * self.stage.mlp_ratio), kernel_init=KERNEL_INIT, name="mlp_in")(x)
        x = nn.Dense(dim, kernel_init=KERNEL_INIT, name="mlp_out")(nn.gelu(x, approximate=False))
        x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
        return tokens + drop_path(x, train)


class CvTEncoder(nn.Module):
    """Pixels [batch, height, width, channels] -> features [batch, embed_dim of the last stage].

    The features are the last stage's class token (or mean token) after the final LayerNorm
    `norm`, as the reference's classifier sees them. Tubelets [batch, t, height, width, channels]
    are embedded by a 3D first-stage kernel whose fresh value is an image kernel inflated by
    `kernel_init_method` (as `vivit.models.embeddings.tubelet_kernel_init`).
    """

    stages: tuple[CvTStage, ...]
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    kernel_init_method: Optional[str] = None

    def _embed(self, grid: jax.Array, index: int, s: CvTStage) -> jax.Array:
        """Stage `index`'s strided convolution `stage_{index}_patch_embed` -> [b, h, w, dim]."""
        size, stride, pad = s.patch_size, s.patch_stride, s.patch_padding
        name = f"stage_{index}_patch_embed"
        if grid.ndim == 4:
            return nn.Conv(s.embed_dim, (size, size), strides=stride, padding=[(pad, pad)] * 2,
                           kernel_init=KERNEL_INIT, name=name)(grid)
        time = grid.shape[1]  # A tubelet: one token grid from `time` frames.
        return nn.Conv(s.embed_dim, (time, size, size), strides=(time, stride, stride),
                       padding=[(0, 0), (pad, pad), (pad, pad)],
                       kernel_init=tubelet_kernel_init(self.kernel_init_method, KERNEL_INIT),
                       name=name)(grid)[:, 0]

    @nn.compact
    def __call__(self, pixels: jax.Array, train: bool = False) -> jax.Array:
        if pixels.ndim not in (4, 5):
            raise ValueError(f"CvT takes images [b, h, w, c] or tubelets [b, t, h, w, c], got "
                             f"shape {pixels.shape}.")
        grid = pixels
        tokens: Optional[jax.Array] = None
        for i, s in enumerate(self.stages):
            grid = self._embed(grid, i, s)
            batch, height, width, dim = grid.shape  # [batch, h, w, embed_dim]
            tokens = nn.LayerNorm(LAYER_NORM_EPS, name=f"stage_{i}_patch_norm")(
                grid.reshape(batch, height * width, dim))
            tokens = nn.Dropout(self.dropout_rate)(tokens, deterministic=not train)
            if s.cls_token:
                cls = self.param(f"stage_{i}_cls", nn.initializers.truncated_normal(0.02),
                                 (1, 1, dim))
                tokens = jnp.concatenate([jnp.broadcast_to(cls, (batch, 1, dim)), tokens], axis=1)
            rates = np.linspace(0.0, s.drop_path_rate, s.depth)  # deeper blocks drop more
            for j in range(s.depth):
                tokens = CvTBlock(s, float(rates[j]), self.dropout_rate, self.attention_dropout_rate,
                                  name=f"stage_{i}_block_{j}")(tokens, height, width, train)
            patches = tokens[:, 1:] if s.cls_token else tokens
            grid = patches.reshape(batch, height, width, dim)
        last = self.stages[-1]
        pooled = tokens[:, :1] if last.cls_token else tokens
        return jnp.mean(nn.LayerNorm(LAYER_NORM_EPS, name="norm")(pooled), axis=1)


class CvTClassifier(nn.Module):
    """The image model: `CvTEncoder` (`encoder`) and a linear `head`. Images [b, h, w, c]."""

    stages: tuple[CvTStage, ...]
    num_classes: int
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0

    @nn.compact
    def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
        features = CvTEncoder(self.stages, self.dropout_rate, self.attention_dropout_rate,
                              name="encoder")(images, train)
        return nn.Dense(self.num_classes, kernel_init=KERNEL_INIT, name="head")(features)
