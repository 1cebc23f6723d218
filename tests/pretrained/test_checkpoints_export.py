"""Export to Hugging Face ViViT: transformers loads it and gives our logits; inputs match ours."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

from ckpt_layouts import CROP, FRAMES, flat, init_params, random_video, tiny_config, write_orbax
from vivit.pretrained import CheckpointError
from vivit.export import main

CONFIG_FILE = '''
from ckpt_layouts import tiny_config

def get_config():
    config = tiny_config()
    config.dataset_configs.min_resize = 20
    return config
'''


def _trained_like_params(config):
    """Fresh params with every leaf perturbed, so no zero-initialized head hides a mismatch."""
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
    from vivit.formats.readers import read_checkpoint

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
    from vivit.formats.hf_writer import write_hf_vivit

    _, _, root, _ = exported
    with pytest.raises(CheckpointError, match="posemb has 9 tokens.*--num_frames"):
        write_hf_vivit(str(root / "workdir"), str(tmp_path / "o"), num_frames=8, image_size=16,
                       min_resize=16)


@pytest.mark.parametrize("missing", ["transformers", "torch"])
def test_export_without_transformers_or_torch_is_one_line(exported, tmp_path, missing):
    """Neither is a dependency of the package (the `hf` extra installs them): a missing one is
    one error line naming the extra, not an ImportError traceback."""
    import subprocess
    import sys

    _, _, root, _ = exported
    # None in sys.modules makes `import NAME` raise ModuleNotFoundError, as if not installed.
    code = (f"import sys; sys.modules[{missing!r}] = None\n"
            "from vivit.export import main; sys.exit(main(sys.argv[1:]))")
    result = subprocess.run(
        [sys.executable, "-c", code, f"--checkpoint={root / 'workdir'}", "--to=hf",
         f"--out={tmp_path / 'hf'}", "--num_frames=4", "--image_size=16"],
        capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    # The last line: TensorFlow's C++ start-up may log to stderr before it.
    assert result.stderr.strip().splitlines()[-1] == (
        f"export: error: Hugging Face export needs transformers and torch ({missing} is not "
        "installed): pip install -e '.[hf]'")
    assert not (tmp_path / "hf").exists()


# Export of a training run: the model, clip settings and class names come from the workdir.

@pytest.fixture(scope="module")
def token_run(tmp_path_factory):
    """A 2-step demo run trained with the class-token classifier (demo.py says 'gap')."""
    from tests.trainer.main_runner import FAST_OVERRIDES, run_main

    workdir = tmp_path_factory.mktemp("token_run")
    result = run_main(workdir, *FAST_OVERRIDES, "--config.num_training_steps=2",
                      "--config.lr_configs.warmup_steps=1", "--config.checkpoint_steps=2",
                      "--config.model.classifier=token")
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def _our_logits(workdir, video):
    import json

    from vivit.formats.readers import read_checkpoint
    from vivit.formats.view import unflatten
    from vivit.export import run_config
    from tests.task_helpers import model_of

    config = run_config(str(workdir))
    assert json.loads((workdir / "config.json").read_text())["model"]["classifier"] == "token"
    params = unflatten(read_checkpoint(str(workdir)).params)
    return np.asarray(model_of(config).apply({"params": params}, video, train=False))


@pytest.mark.slow
def test_export_of_a_run_needs_no_config_and_keeps_its_class_names(token_run, tmp_path, capsys):
    import json

    import torch
    from transformers import AutoImageProcessor, VivitForVideoClassification

    out = tmp_path / "hf"
    assert main([f"--checkpoint={token_run}", "--to=hf", f"--out={out}"]) == 0, \
        capsys.readouterr().err
    hf = VivitForVideoClassification.from_pretrained(str(out)).eval()
    names = json.loads((token_run / "label_names.json").read_text())
    assert len(names) == 10 and names[0] != "LABEL_0"
    assert [hf.config.id2label[i] for i in range(10)] == names
    assert hf.config.label2id == {name: i for i, name in enumerate(names)}
    assert hf.config.num_frames == 8 and hf.config.image_size == 32  # configs/demo.py's clips
    assert AutoImageProcessor.from_pretrained(str(out)).size == {"shortest_edge": 32}

    video = np.random.default_rng(0).uniform(-1, 1, (2, 8, 32, 32, 3)).astype(np.float32)
    ours = _our_logits(token_run, video)
    with torch.no_grad():
        theirs = hf(pixel_values=torch.from_numpy(video.transpose(0, 1, 4, 2, 3))).logits.numpy()
    assert np.abs(ours).max() > 0.01
    np.testing.assert_allclose(theirs, ours, atol=1e-5)


@pytest.mark.slow
def test_a_config_file_does_not_override_the_runs_model(token_run, tmp_path, capsys):
    from tests.trainer.main_runner import REPO_ROOT

    # The command: the run's file says classifier 'gap', the run trained with 'token'.
    out = tmp_path / "hf"
    assert main([f"--checkpoint={token_run / 'checkpoints'}", "--to=hf", f"--out={out}",
                 f"--config={REPO_ROOT / 'configs' / 'demo.py'}",
                 "--config.dataset_configs.min_resize=40"]) == 0
    err = capsys.readouterr().err
    assert "sets model.classifier='gap' but the run trained with 'token'; using the run's" in err
    from transformers import AutoImageProcessor

    assert AutoImageProcessor.from_pretrained(str(out)).size == {"shortest_edge": 40}


def test_overrides_are_parsed_as_their_declared_types_as_main_py_parses_them(exported, tmp_path):
    """vivit.config parses them: '2024' stays a string for a string key, 'false' is a boolean,
    --noconfig.KEY sets False (a literal_eval of each value made 2024 an int, 'false' a string)."""
    from transformers import AutoImageProcessor

    _, _, root, _ = exported
    out = tmp_path / "hf"
    assert main([f"--checkpoint={root / 'workdir'}", "--to=hf", f"--out={out}",
                 f"--config={root / 'run_config.py'}", "--config.experiment_name=2024",
                 "--config.dataset_configs.random_flip=false", "--noconfig.checkpoint",
                 "--config.dataset_configs.min_resize=24"]) == 0
    assert AutoImageProcessor.from_pretrained(str(out)).size == {"shortest_edge": 24}


def test_export_errors_are_one_line(exported, tmp_path, capsys):
    _, _, root, _ = exported
    base = [f"--checkpoint={root / 'workdir'}", "--to=hf", f"--out={tmp_path / 'o'}"]
    assert main(base) == 2
    assert "is not in a training workdir" in capsys.readouterr().err
    assert main([*base, "--config.model.classifier=token"]) == 2
    assert "--config.model.classifier needs a config" in capsys.readouterr().err
    assert main([*base, f"--config={root / 'run_config.py'}", "--config.model.clasifier=1"]) == 2
    assert "--config.model.clasifier=1" in capsys.readouterr().err
    assert main([*base, f"--config={root / 'run_config.py'}",
                 "--config.model.classifier=gap"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("export: error: ") and "\n" not in line
    assert "model.classifier='gap' (Hugging Face ViViT classifies from the class token" in line
    with pytest.raises(SystemExit) as stopped:
        main([*base, "--bogus=1"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "export: error: Unknown command line flag 'bogus' (overrides are --config.KEY=VALUE)")
    with pytest.raises(SystemExit) as stopped:
        main([f"--checkpoint={root / 'workdir'}", f"--out={tmp_path / 'o'}"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "export: error: flag --to=None: Flag --to must have a value other than None.")
    assert not (tmp_path / "o").exists()


# The GCS emulator of tests/storage (one server per session).
from tests.storage.conftest import bucket, bucket_files, gcs_emulator  # noqa: E402,F401


def test_export_to_a_bucket_writes_the_same_model_and_never_overwrites(exported, bucket):
    from vivit.formats.readers import read_checkpoint

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


def test_export_help_lists_its_flags(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m vivit.export --checkpoint=PATH")
    assert "--num_frames: clip length (default: from the config)" in text
