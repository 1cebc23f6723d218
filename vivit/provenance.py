"""What a run was made with: the versions of the code and its libraries, so a result can be
traced back. The trainer records them in the workdir (`vivit.workdir.write_record`)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess

# The distributions whose versions decide a run's numbers and its checkpoints' format.
PACKAGES = ("vivit", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "ml_collections",
            "numpy", "tensorflow-cpu", "opencv-python-headless")
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit(directory: str = _CHECKOUT) -> str | None:
    """The commit the code runs from ('+' appended when the checkout has uncommitted changes),
    or None outside a git checkout (an installed package) or without git."""
    if not os.path.exists(os.path.join(directory, ".git")):
        return None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                 cwd=directory, capture_output=True, text=True, timeout=10,
                                 check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+" if changed else "")


def code_versions() -> dict[str, str | None]:
    """{package: version or None when not installed}, Python's version and the git commit."""
    versions: dict[str, str | None] = {package: _version(package) for package in PACKAGES}
    versions["python"] = platform.python_version()
    versions["git_commit"] = git_commit()
    return versions
