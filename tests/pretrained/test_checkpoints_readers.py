"""Each upstream layout reads into the same Scenic-named view; bad input fails by name."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ckpt_layouts import (HEADS, HIDDEN, hf_vit, hf_vivit, random_vit, write_big_vision_npz,
                          write_orbax, write_scenic_msgpack, write_vit_npz)
from vivit.formats.errors import CheckpointError
from vivit.formats.readers import detect_format, read_checkpoint
from vivit.formats.view import unflatten


def assert_same_tree(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=0, err_msg=name)


def test_vit_npz_pre_linen_names_become_scenic_names(tmp_path):
    vit = random_vit()
    path = write_vit_npz(str(tmp_path / "ViT-B_16.npz"), vit)
    view = read_checkpoint(path)
    assert view.format == "vit_npz"
    assert_same_tree(view.params, vit)


@pytest.mark.parametrize("prefix", ["params/", ""])
def test_big_vision_npz_moves_posemb_and_ignores_opt(tmp_path, prefix):
    vit = random_vit()
    path = write_big_vision_npz(str(tmp_path / "bv.npz"), vit, prefix=prefix)
    view = read_checkpoint(path)
    assert view.format == "big_vision"
    # The posemb's class slot comes back as zeros (big_vision adds no posemb to the class token).
    want = dict(vit)
    posemb = want["Transformer/posembed_input/pos_embedding"].copy()
    posemb[:, 0] = 0
    want["Transformer/posembed_input/pos_embedding"] = posemb
    assert_same_tree(view.params, want)


def test_big_vision_gap_model_has_no_class_slot(tmp_path):
    vit = random_vit(class_token=False)
    view = read_checkpoint(write_big_vision_npz(str(tmp_path / "gap.npz"), vit))
    assert_same_tree(view.params, vit)


@pytest.mark.parametrize("optax", [False, True])
def test_scenic_msgpack_directory_reads_latest_step(tmp_path, optax):
    old, new = random_vit(seed=1), random_vit(seed=2)
    write_scenic_msgpack(str(tmp_path), old, step=5, optax=optax)
    write_scenic_msgpack(str(tmp_path), new, step=12, optax=optax)
    view = read_checkpoint(str(tmp_path))
    assert view.format == "scenic" and view.path.endswith("checkpoint_12")
    assert_same_tree(view.params, new)


def test_scenic_pre_linen_target_params_are_renumbered(tmp_path):
    vit = random_vit()
    pre_linen = {}
    for name, value in vit.items():
        pre_linen[name.replace("MultiHeadDotProductAttention_0", "MultiHeadDotProductAttention_1")
                  .replace("LayerNorm_1", "LayerNorm_2").replace("MlpBlock_0", "MlpBlock_3")] = value
    path = tmp_path / "checkpoint"
    from flax import serialization
    path.write_bytes(serialization.msgpack_serialize(
        {"optimizer": {"target": {"params": unflatten(pre_linen)}}, "global_step": 1}))
    assert_same_tree(read_checkpoint(str(path)).params, vit)


@pytest.mark.parametrize("level", ["root", "step", "item"])
def test_orbax_root_step_or_item(tmp_path, level):
    vit = random_vit()
    write_orbax(str(tmp_path / "ckpt"), unflatten(vit), step=3)
    path = {"root": tmp_path / "ckpt", "step": tmp_path / "ckpt" / "3",
            "item": tmp_path / "ckpt" / "3" / "state"}[level]
    view = read_checkpoint(str(path))
    assert view.format == "orbax"
    assert_same_tree(view.params, vit)


def test_hf_vit_maps_to_scenic_layouts(tmp_path):
    model = hf_vit(str(tmp_path / "vit"))
    view = read_checkpoint(str(tmp_path / "vit"))
    assert view.format == "huggingface"
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    p = view.params
    # Conv [D, C, h, w] -> [h, w, C, D]; query [out, in] -> [in, heads, head_dim].
    np.testing.assert_array_equal(p["embedding/kernel"],
                                  state["embeddings.patch_embeddings.projection.weight"].transpose(2, 3, 1, 0))
    q = state["layers.0.attention.q_proj.weight"]
    np.testing.assert_array_equal(
        p["Transformer/encoderblock_0/MultiHeadDotProductAttention_0/query/kernel"],
        q.T.reshape(HIDDEN, HEADS, HIDDEN // HEADS))
    o = state["layers.1.attention.o_proj.weight"]
    np.testing.assert_array_equal(
        p["Transformer/encoderblock_1/MultiHeadDotProductAttention_0/out/kernel"],
        o.T.reshape(HEADS, HIDDEN // HEADS, HIDDEN))
    np.testing.assert_array_equal(p["Transformer/encoderblock_1/MlpBlock_0/Dense_1/kernel"],
                                  state["layers.1.mlp.fc2.weight"].T)
    assert "pre_logits/kernel" in p  # the ViT pooler (Dense + tanh) is Scenic's pre_logits


def test_hf_vivit_safetensors_and_pytorch_bin_agree(tmp_path, monkeypatch):
    import sys

    import torch
    from safetensors.numpy import load_file

    hf_vivit(str(tmp_path / "st"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "config.json").write_text((tmp_path / "st" / "config.json").read_text())
    state = {k: torch.from_numpy(v) for k, v in load_file(str(tmp_path / "st" / "model.safetensors")).items()}
    torch.save(state, str(bin_dir / "pytorch_model.bin"))
    a, b = read_checkpoint(str(tmp_path / "st")), read_checkpoint(str(bin_dir))
    assert a.params["embedding/kernel"].shape == (2, 8, 8, 3, HIDDEN)
    assert_same_tree(b.params, a.params)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails, as if not installed
    with pytest.raises(CheckpointError, match=r"bin' needs PyTorch: pip install -e '\.\[hf\]'$"):
        read_checkpoint(str(bin_dir))


def test_missing_path_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="nowhere.npz' does not exist"):
        read_checkpoint(str(tmp_path / "nowhere.npz"))


def test_empty_directory_says_no_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint for the pretrained model is found"):
        read_checkpoint(str(tmp_path))


def test_unknown_file_format_is_named(tmp_path):
    path = tmp_path / "weights.txt"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="Unknown checkpoint format.*weights.txt"):
        detect_format(str(path))


def test_unknown_format_name_is_rejected(tmp_path):
    path = write_vit_npz(str(tmp_path / "a.npz"), random_vit())
    with pytest.raises(CheckpointError, match="Unknown init_from.checkpoint_format 'tf'"):
        read_checkpoint(path, "tf")


def _truncate(path: str) -> None:
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)


def test_truncated_npz_is_named(tmp_path):
    path = write_vit_npz(str(tmp_path / "ViT.npz"), random_vit())
    _truncate(path)
    with pytest.raises(CheckpointError, match="ViT.npz.*truncated or corrupt"):
        read_checkpoint(path)


def test_truncated_msgpack_is_named(tmp_path):
    path = write_scenic_msgpack(str(tmp_path), random_vit(), step=7)
    _truncate(path)
    with pytest.raises(CheckpointError, match="checkpoint_7.*truncated or corrupt"):
        read_checkpoint(path)


def test_truncated_safetensors_is_named(tmp_path):
    hf_vit(str(tmp_path / "vit"))
    _truncate(str(tmp_path / "vit" / "model.safetensors"))
    with pytest.raises(CheckpointError, match="model.safetensors.*truncated or corrupt"):
        read_checkpoint(str(tmp_path / "vit"))


def test_wrong_npz_flavour_says_which_format_to_set(tmp_path):
    path = write_big_vision_npz(str(tmp_path / "bv.npz"), random_vit())
    with pytest.raises(CheckpointError, match="checkpoint_format='big_vision'"):
        read_checkpoint(path, "vit_npz")


def test_released_scenic_layout_file_named_checkpoint_in_a_directory(tmp_path):
    vit = random_vit()
    step_file = write_scenic_msgpack(str(tmp_path), vit, step=1)
    os.rename(step_file, tmp_path / "checkpoint")
    view = read_checkpoint(str(tmp_path))
    assert view.path.endswith("checkpoint")
    assert_same_tree(view.params, vit)


def test_hf_sharded_safetensors(tmp_path):
    model = hf_vit(str(tmp_path / "one"))
    model.save_pretrained(str(tmp_path / "sharded"), max_shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    assert_same_tree(read_checkpoint(str(tmp_path / "sharded")).params,
                     read_checkpoint(str(tmp_path / "one")).params)


def test_big_vision_scanned_encoder_is_unstacked(tmp_path):
    vit = random_vit()
    arrays = {}
    for name, value in vit.items():
        name = name.replace("output_projection", "head")
        if name == "Transformer/posembed_input/pos_embedding":
            arrays["params/pos_embedding"] = value[:, 1:]
        elif not name.startswith("Transformer/encoderblock_"):
            arrays["params/" + name] = value
    for name in {n.split("/", 2)[2] for n in vit if n.startswith("Transformer/encoderblock_")}:
        arrays[f"params/Transformer/encoderblock/{name}"] = np.stack(
            [vit[f"Transformer/encoderblock_{i}/{name}"] for i in range(2)])
    np.savez(tmp_path / "scan.npz", **arrays)
    view = read_checkpoint(str(tmp_path / "scan.npz"))
    for name in vit:
        if name.startswith("Transformer/encoderblock_"):
            np.testing.assert_array_equal(view.params[name], vit[name])


def test_incomplete_orbax_checkpoint_is_named(tmp_path):
    write_orbax(str(tmp_path / "ckpt"), unflatten(random_vit()), step=3)
    item = tmp_path / "ckpt" / "3" / "state"
    for folder, _, files in os.walk(item):
        for name in files:
            if name not in ("_METADATA", "_CHECKPOINT_METADATA", "commit_success.txt"):
                os.remove(os.path.join(folder, name))
    with pytest.raises(CheckpointError, match="ckpt/3/state.*incomplete or corrupt"):
        read_checkpoint(str(tmp_path / "ckpt"))


def test_the_formats_wing_imports_nothing_that_adapts_or_trains():
    """vivit.formats sits below vivit.pretrained and the trainer: loading every module of it
    loads none of theirs, so neither can import it back into a cycle."""
    import subprocess
    import sys

    code = ("import importlib, pkgutil, sys, vivit.formats\n"
            "for module in pkgutil.walk_packages(vivit.formats.__path__, 'vivit.formats.'):\n"
            "    importlib.import_module(module.name)\n"
            "print(sorted(m for m in sys.modules if m == 'trainer' or m.startswith(\n"
            "    ('vivit.pretrained', 'vivit.train', 'vivit.config', 'vivit.export'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]", result.stdout
