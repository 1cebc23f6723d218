"""The package installs (`pip install -e .`) and its tools then run from any directory."""

from __future__ import annotations

import os
import pathlib
import site
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_editable_install_runs_tools_outside_the_repository(tmp_path: pathlib.Path) -> None:
    # A fresh venv that sees this interpreter's installed dependencies but not the repository.
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip()
    pathlib.Path(purelib, "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = subprocess.run([python, "-c", "import vivit"], cwd=elsewhere, env=env,
                            capture_output=True, text=True)
    site_vivit = subprocess.run([python, "-c", "import vivit, sys; print(vivit.__file__)"],
                                cwd=elsewhere, env=env, capture_output=True, text=True)
    if before.returncode == 0 and str(REPO_ROOT) not in site_vivit.stdout:
        pytest.skip("another vivit is installed in this interpreter")

    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "-e", str(REPO_ROOT)], check=True, env=env)
    # Each tool prints its help, which names one of its own flags (absl's --help exits 1).
    for tool, flag in (("vivit.data.prepare", "--videos"), ("vivit.flops", "--table2"),
                       ("vivit.export", "--checkpoint"), ("vivit.pretrained", "info")):
        result = subprocess.run([python, "-m", tool, "--help"], cwd=elsewhere, env=env,
                                capture_output=True, text=True, timeout=300)
        assert "No module named" not in result.stderr, (tool, result.stderr[-2000:])
        assert flag.lstrip("-") in result.stdout, (tool, result.stdout[-2000:])


def test_the_model_package_does_not_import_the_config_assembly() -> None:
    """vivit.config imports every area's section; the areas must not import it back (no cycle,
    no deferred import): keys are validated once, by complete()/load_config()."""
    code = ("import sys, vivit.models, vivit.data, vivit.pretrained; "
            "print('vivit.config' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "False"


def _pins(lines: list[str]) -> dict[str, str]:
    """{name: version} of `name==version` requirement lines (comments and options skipped)."""
    pins = {}
    for line in lines:
        requirement = line.split("#", 1)[0].strip()
        if "==" in requirement:
            name, version = requirement.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def test_the_hf_extra_pins_what_the_tests_run_with() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+.
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extra = _pins(project["optional-dependencies"]["hf"])
    tested = _pins((REPO_ROOT / "requirements-test.txt").read_text().splitlines())
    assert set(extra) == {"transformers", "torch"}
    assert extra == {name: tested[name] for name in extra}

