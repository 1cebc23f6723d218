"""Unknown-key checks shared by the config assembly (`vivit.config`) and the areas.

It imports no area's section, so an area (e.g. `build_model`) can check the keys of its own
section without importing `vivit.config`, which imports every section.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterator

import ml_collections


class ConfigError(ValueError):
    """Bad config input (file, key or value); its message is one line naming the culprit."""


def _items(tree: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    items = tree.items() if isinstance(tree, (dict, ml_collections.ConfigDict)) else []
    for key, value in items:
        yield f"{prefix}{key}", value


def check_keys(config: Any, defaults: Any, prefix: str = "") -> None:
    """Raises ConfigError naming the first key of `config` that `defaults` does not declare,
    with the closest declared key as a suggestion. `prefix` is the section's dotted path."""
    for path, value in _items(config, prefix):
        key = path[len(prefix):]
        if key not in defaults:
            known = [f"{prefix}{k}" for k in defaults.keys()]
            close = difflib.get_close_matches(path, known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"Unknown config key '{path}'.{hint}")
        default = defaults[key]
        # Sections declared as ConfigDicts are checked key by key; a section declared as None
        # (free-form, e.g. optimizer_configs) accepts anything.
        if isinstance(default, ml_collections.ConfigDict) and isinstance(
            value, (dict, ml_collections.ConfigDict)
        ):
            check_keys(value, default, f"{path}.")
