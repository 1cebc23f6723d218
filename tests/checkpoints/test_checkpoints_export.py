"""Export to Hugging Face ViViT: transformers loads it and gives our logits; inputs match ours."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

from ckpt_layouts import CROP, FRAMES, flat, init_params, random_video, tiny_config, write_orbax
from vivit.checkpoints import CheckpointError
from vivit.export import main

CONFIG_FILE = '''
from ckpt_layouts import tiny_config

def get_config():
    config = tiny_config()
    config.dataset_configs.min_resize = 20
    return config
'''


def _trained_like_params(config):
    """Fresh params with every leaf perturbed, so no zero-initialised head hides a mismatch."""
    model, params = init_params(config, seed=3)
    leaves, tree = jax.tree_util.tree_flatten(params)
    rng = np.random.default_rng(0)
    leaves = [np.asarray(x) + rng.normal(0, 0.1, x.shape).astype(np.float32) for x in leaves]
    return model, jax.tree_util.tree_unflatten(tree, leaves)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    config = tiny_config()
    model, params = _trained_like_params(config)
    write_orbax(str(root / "workdir"), params)
    (root / "run_config.py").write_text(CONFIG_FILE)
    out = root / "hf"
    assert main([f"--checkpoint={root / 'workdir'}", "--to=hf", f"--out={out}",
                 f"--config={root / 'run_config.py'}"]) == 0
    return model, params, root, out


def test_transformers_loads_the_export_and_gives_our_logits(exported):
    import torch
    from transformers import VivitForVideoClassification

    model, params, _, out = exported
    hf = VivitForVideoClassification.from_pretrained(str(out)).eval()
    video = random_video(4)
    ours = np.asarray(model.apply({"params": params}, video))
    with torch.no_grad():
        theirs = hf(pixel_values=torch.from_numpy(video.transpose(0, 1, 4, 2, 3))).logits.numpy()
    assert np.abs(ours).max() > 0.1
    assert np.abs(ours - theirs).max() < 1e-4


def test_export_reads_back_into_the_same_params(exported):
    from vivit.checkpoints import read_checkpoint

    _, params, _, out = exported
    view = read_checkpoint(str(out))
    want = flat(params)
    assert sorted(view.params) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(view.params[name], want[name], err_msg=name)


def test_preprocessor_reproduces_our_input_range(exported):
    from transformers import AutoImageProcessor

    *_, out = exported
    processor = AutoImageProcessor.from_pretrained(str(out))
    frames = np.random.default_rng(1).integers(0, 256, (FRAMES, 20, 20, 3)).astype(np.uint8)
    pixels = np.asarray(processor(list(frames), return_tensors="np")["pixel_values"])[0]
    assert pixels.shape == (FRAMES, 3, CROP, CROP)
    # min_resize 20 keeps 20x20; the centre crop takes rows/cols 2..17; then x / 127.5 - 1.
    want = frames[:, 2:18, 2:18].transpose(0, 3, 1, 2) / 127.5 - 1
    np.testing.assert_allclose(pixels, want, atol=1e-6)


def test_export_refuses_non_empty_output_and_other_models(exported, tmp_path):
    _, _, root, out = exported
    before = sorted(os.listdir(out))
    assert main([f"--checkpoint={root / 'workdir'}", "--to=hf", f"--out={out}",
                 "--num_frames=4", "--image_size=16"]) == 2
    assert sorted(os.listdir(out)) == before
    config = tiny_config("factorized_encoder")
    _, params = init_params(config)
    write_orbax(str(tmp_path / "fe"), params)
    assert main([f"--checkpoint={tmp_path / 'fe'}", "--to=hf", f"--out={tmp_path / 'hf'}",
                 "--num_frames=4", "--image_size=16"]) == 2
    assert not os.path.exists(tmp_path / "hf")
    assert [n for n in os.listdir(tmp_path) if n.startswith(".export-")] == []


def test_wrong_clip_size_is_explained(exported, tmp_path):
    from vivit.export import export_to_hf

    _, _, root, _ = exported
    with pytest.raises(CheckpointError, match="posemb has 9 tokens.*--num_frames"):
        export_to_hf(str(root / "workdir"), str(tmp_path / "o"), num_frames=8, image_size=16,
                     min_resize=16)


# The GCS emulator of tests/storage (one server per session).
from tests.storage.conftest import bucket, bucket_files, gcs_emulator  # noqa: E402,F401


def test_export_to_a_bucket_writes_the_same_model_and_never_overwrites(exported, bucket):
    from vivit.checkpoints import read_checkpoint

    _, params, root, out = exported
    remote = f"{bucket}/hf"
    args = [f"--checkpoint={root / 'workdir'}", "--to=hf", f"--config={root / 'run_config.py'}"]
    assert main([*args, f"--out={remote}"]) == 0
    assert bucket_files(remote) == sorted(os.listdir(out))
    view = read_checkpoint(remote)  # Read back from the bucket (safetensors + config.json).
    want = flat(params)
    assert sorted(view.params) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(view.params[name], want[name], err_msg=name)
    assert main([*args, f"--out={remote}"]) == 2
