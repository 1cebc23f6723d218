"""`python -m vivit.pretrained info PATH` names the format, lists the tree, says what it fits."""

from __future__ import annotations

import re
import subprocess
import sys

from ckpt_layouts import init_params, random_vit, tiny_config, write_big_vision_npz, write_orbax
from vivit.pretrained.__main__ import main


def test_info_on_a_big_vision_npz(tmp_path, capsys):
    path = write_big_vision_npz(str(tmp_path / "bv.npz"), random_vit())
    assert main(["info", path]) == 0
    out = capsys.readouterr().out
    assert "format: big_vision" in out
    assert "2D image ViT" in out and "initialises every ViViT model" in out
    assert re.search(r"Transformer/posembed_input/pos_embedding +\(1, 5, 16\) float32", out)
    assert "opt/" not in out


def test_info_on_a_model2_orbax_checkpoint(tmp_path, capsys):
    _, params = init_params(tiny_config("factorized_encoder"))
    write_orbax(str(tmp_path / "w"), params)
    assert main(["info", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out
    assert "format: orbax" in out and "Model 2 (factorised encoder)" in out
    assert "TemporalTransformer/encoderblock_1/MlpBlock_0/Dense_1/kernel" in out


def test_info_as_a_module_reports_errors_with_exit_code_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "vivit.pretrained", "info",
                             str(tmp_path / "missing")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "missing' does not exist" in result.stderr
