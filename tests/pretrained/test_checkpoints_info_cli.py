"""`python -m vivit.pretrained info PATH` names the format, lists the tree, says what it fits."""

from __future__ import annotations

import re

import pytest
import subprocess
import sys

from ckpt_layouts import init_params, random_vit, tiny_config, write_big_vision_npz, write_orbax
from vivit.pretrained.__main__ import main


def test_info_on_a_big_vision_npz(tmp_path, capsys):
    path = write_big_vision_npz(str(tmp_path / "bv.npz"), random_vit())
    assert main(["info", path]) == 0
    out = capsys.readouterr().out
    assert "format: big_vision" in out
    assert "2D image ViT" in out and "initializes every ViViT model" in out
    assert re.search(r"Transformer/posembed_input/pos_embedding +\(1, 5, 16\) float32", out)
    assert "opt/" not in out


def test_info_on_a_model2_orbax_checkpoint(tmp_path, capsys):
    _, params = init_params(tiny_config("factorized_encoder"))
    write_orbax(str(tmp_path / "w"), params)
    assert main(["info", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out
    assert "format: orbax" in out and "Model 2 (factorized encoder)" in out
    assert "TemporalTransformer/encoderblock_1/MlpBlock_0/Dense_1/kernel" in out


def test_info_as_a_module_reports_errors_with_exit_code_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vivit.pretrained", "info",
                             str(tmp_path / "missing")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "missing' does not exist" in result.stderr


@pytest.mark.parametrize("argv, message", [
    ([], "expected the subcommand 'info' (python -m vivit.pretrained info PATH"),
    (["show", "x"], "expected the subcommand 'info'"),
    (["info"], "info takes one PATH"),
    (["info", "a", "b"], "info takes one PATH"),
    (["info", "x", "--format=zip"], "flag --format=zip: value should be one of <big_vision|"),
    (["info", "x", "--bogus"], "Unknown command line flag 'bogus'"),
])
def test_info_usage_errors_are_one_line_with_exit_code_2(argv, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m vivit.pretrained: error: ") and "\n" not in err
    assert message in err


def test_info_format_flag_after_the_path_is_parsed(tmp_path, capsys):
    """absl parses flags after positional arguments; --format skips detection."""
    path = write_big_vision_npz(str(tmp_path / "bv.npz"), random_vit())
    assert main(["info", path, "--format=vit_npz"]) == 2  # forced to the wrong reader
    assert "is not a vision_transformer ViT .npz" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0
    assert "--format: <big_vision|" in capsys.readouterr().out
