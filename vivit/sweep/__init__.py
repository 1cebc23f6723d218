"""Sweeps: a paper table or figure as named runs of main.py, launched and reported.

Sweep files (`configs/ablations/*.py`) define `get_sweep(arg) -> Sweep`; `python -m vivit.sweep`
launches them and `python -m vivit.sweep report` lays their results beside the paper's.
"""

from vivit.sweep.spec import (ABLATION_VIEWS, Row, Sweep, SweepError, parse_sweep_arg,
                               size_overrides)

__all__ = ["ABLATION_VIEWS", "Row", "Sweep", "SweepError", "parse_sweep_arg", "size_overrides"]
