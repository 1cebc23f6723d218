"""The one place where every config key is declared, with its default.

Each area of the package declares its own section (`vivit/models/config.py`, `vivit/data/config.py`,
`vivit/checkpoints/config.py`, `vivit/train/config.py`); this module assembles them and rejects keys
that no section declares, so a typo'd key fails loudly instead of silently doing nothing.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from typing import Any, Iterator, Mapping

import ml_collections
from ml_collections.config_dict import placeholder

from vivit.checkpoints.config import init_from_defaults
from vivit.data.config import data_defaults
from vivit.models.config import model_defaults
from vivit.train.config import train_defaults


def default_config() -> ml_collections.ConfigDict:
    """Returns a locked config holding every known key at its default value.

    Config files start from this and override what they need; assigning a key that does not
    exist raises at once because the config is locked.
    """
    config = ml_collections.ConfigDict()
    config.experiment_name = ""
    config.update(model_defaults())
    config.update(data_defaults())
    config.init_from = init_from_defaults()
    config.update(train_defaults())
    _make_unset_keys_overridable(config)
    config.lock()
    return config


def _make_unset_keys_overridable(section: ml_collections.ConfigDict) -> None:
    """Turns every key whose default is None into an untyped placeholder.

    `--config.KEY=VALUE` cannot override a plain None field (its type is unknown); a
    placeholder(object) holds None just the same but parses the flag as a Python literal
    (falling back to a string), so `--config.dataset_configs.base_dir=/data/k400` works.
    """
    for key, value in section.items():
        if isinstance(value, ml_collections.ConfigDict):
            _make_unset_keys_overridable(value)
        elif value is None:
            section[key] = placeholder(object)


def _flat_keys(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    items = tree.items() if isinstance(tree, (dict, ml_collections.ConfigDict)) else []
    for key, value in items:
        yield f"{prefix}{key}", value


def _check_section(config: Any, defaults: Any, prefix: str) -> None:
    for path, value in _flat_keys(config, prefix):
        key = path[len(prefix):]
        if key not in defaults:
            known = [f"{prefix}{k}" for k in defaults.keys()]
            close = difflib.get_close_matches(path, known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"Unknown config key '{path}'.{hint}")
        default = defaults[key]
        # Sections declared as ConfigDicts are checked key by key; a section declared as None
        # (free-form, e.g. optimizer_configs) accepts anything.
        if isinstance(default, ml_collections.ConfigDict) and isinstance(
            value, (dict, ml_collections.ConfigDict)
        ):
            _check_section(value, default, f"{path}.")


def validate_keys(config: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the first key of `config` that no section declares."""
    _check_section(config, default_config(), "")


def load_config_file(path: str) -> ml_collections.ConfigDict:
    """The `get_config()` of a config file, for scripts and tests that do not parse flags."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file '{path}' does not exist.")
    spec = importlib.util.spec_from_file_location(f"vivit_config_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def complete(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`config` with every key it leaves out at its default (a new, locked config).

    Config files that start from `default_config()` come back unchanged; ones written for
    Scenic (a plain ConfigDict with only the keys they set) run as they are. Raises ValueError
    naming the first unknown key, so a misspelt section fails instead of being ignored.
    """
    validate_keys(config)
    full = default_config()
    # Values only (placeholders resolved); update() merges nested sections key by key.
    full.update(config.to_dict())
    return full


def apply_overrides(config: ml_collections.ConfigDict, overrides: Mapping[str, Any]
                    ) -> ml_collections.ConfigDict:
    """Sets dotted keys in place, as `--config.KEY=VALUE` would (e.g. for sweeps and tests):
    apply_overrides(config, {"mesh.fsdp": -1, "lr_configs.base_learning_rate": 0.05}).

    Raises KeyError naming a dotted key whose section or leaf does not exist (locked configs).
    """
    for dotted, value in overrides.items():
        node = config
        *parents, leaf = dotted.split(".")
        for parent in parents:
            if parent not in node:
                raise KeyError(f"Unknown config section '{parent}' in override '{dotted}'.")
            node = node[parent]
        node[leaf] = value
    return config

