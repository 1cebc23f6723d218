"""Tests of the scripts in benchmarks/ (run as scripts there, imported here by file name)."""

import importlib
import os
import sys
from types import ModuleType

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARKS = os.path.join(ROOT, "benchmarks")


def import_benchmark(name: str) -> ModuleType:
    """benchmarks/<name>.py as a module (the folder is not a package)."""
    sys.path.insert(0, BENCHMARKS)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(BENCHMARKS)
