"""The one place where every config key is declared, with its default.

Each area of the package declares its own section (`vivit/models/config.py`, `vivit/data/config.py`,
`vivit/pretrained/config.py`, `vivit/train/config.py`); this module assembles them and rejects keys
that no section declares, so a typo'd key fails loudly instead of silently doing nothing.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib.util
import os
import re
import sys
import traceback
from typing import Any, Iterator, Mapping, Sequence

import ml_collections
from absl import logging
from ml_collections.config_dict import placeholder

from vivit.pretrained.config import init_from_defaults
from vivit.config_keys import ConfigError, check_keys
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


def validate_keys(config: ml_collections.ConfigDict) -> None:
    """Raises ConfigError naming the first key of `config` that no section declares."""
    check_keys(config, default_config(), "")


# Section names Scenic's released ViViT files assign by mistake (empty, never read by Scenic).
_SCENIC_TYPO_SECTIONS = {"datset_configs": "dataset_configs"}


def _is_step_count(key: str) -> bool:
    return key.endswith("_steps") or key.startswith("steps_")


def _declared_type(declared: ml_collections.ConfigDict, key: str) -> type:
    """Type of a key's declared default (object for keys declared None: anything goes)."""
    value = declared[key]
    if isinstance(value, ml_collections.ConfigDict):
        return ml_collections.ConfigDict
    return declared.get_type(key)


def _accept_scenic_quirks(values: dict[str, Any]) -> dict[str, Any]:
    """Drops the empty typo'd sections Scenic's files assign, with one warning each."""
    for typo, meant in _SCENIC_TYPO_SECTIONS.items():
        if typo not in values:
            continue
        section = values[typo]
        if section:
            raise ConfigError(
                f"Unknown config key '{typo}'. Did you mean '{meant}'? (Scenic's files assign an "
                f"empty '{typo}', which is ignored; this one sets {sorted(section)}.)")
        del values[typo]
        logging.warning("Scenic config quirk: config.%s (an empty section Scenic never reads) is "
                        "ignored; dataset keys belong in config.%s.", typo, meant)
    return values


def _merge(target: ml_collections.ConfigDict, values: Mapping[str, Any], prefix: str) -> None:
    """Sets `values` into the locked `target` key by key, naming any value of the wrong type."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        declared_type = _declared_type(target, key)
        if declared_type is ml_collections.ConfigDict and isinstance(value, Mapping):
            _merge(target[key], value, f"{path}.")
            continue
        if isinstance(value, float) and _is_step_count(key) and declared_type in (int, object):
            # Scenic computes step counts such as 2.5 * steps_per_epoch and accepts the float.
            logging.warning("Scenic config quirk: config.%s=%r is a float; using %d steps.",
                            path, value, int(value))
            value = int(value)
        try:
            target[key] = value
        except (TypeError, ValueError) as error:
            raise ConfigError(
                f"config.{path}={value!r}: expected {_type_name(declared_type)} "
                f"({str(error).splitlines()[0]})") from None


def complete(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """`config` with every key it leaves out at its default (a new, locked config).

    Config files that start from `default_config()` come back unchanged; ones written for
    Scenic (a plain ConfigDict with only the keys they set) run as they are, including two quirks
    of Scenic's released files, each accepted with one warning: an empty `datset_configs`
    section and float step counts (`warmup_steps = 2.5 * steps_per_epoch`). Raises ConfigError
    naming the first unknown key or mistyped value.
    """
    values = _accept_scenic_quirks(config.to_dict())  # Placeholders resolved to their values.
    check_keys(values, default_config(), "")
    full = default_config()
    _merge(full, values, "")
    return full


def _dotted_keys(section: ml_collections.ConfigDict, prefix: str = "") -> Iterator[str]:
    for key, value in section.items():
        yield f"{prefix}{key}"
        if isinstance(value, ml_collections.ConfigDict):
            yield from _dotted_keys(value, f"{prefix}{key}.")


def _unknown_key(dotted: str, label: str) -> ConfigError:
    close = difflib.get_close_matches(dotted, list(_dotted_keys(default_config())), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"Unknown config key '{dotted}' in {label}.{hint}")


def _type_name(declared_type: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            tuple: "a tuple such as '(16, 16, 2)'", list: "a list such as '[1, 2]'",
            ml_collections.ConfigDict: "a section (set its keys one by one)"}.get(
                declared_type, getattr(declared_type, "__name__", str(declared_type)))


def _parse_value(text: str, declared_type: type) -> Any:
    """A command-line string as the declared type; keys declared None take a Python literal
    (falling back to the string itself), as ml_collections does for placeholders. 'None' unsets
    any key (e.g. best_checkpoint_metric=None turns best-checkpoint tracking off)."""
    if text == "None":
        return None
    if declared_type is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no"):
            return False
        raise ValueError(text)
    if declared_type in (int, float):
        return declared_type(text)
    if declared_type is str:
        return text
    if declared_type in (tuple, list):
        value = ast.literal_eval(text)
        if not isinstance(value, (tuple, list)):
            raise ValueError(text)
        return declared_type(value)
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _coerce(value: Any, declared_type: type) -> Any:
    """A Python value checked against the declared type (an int is a valid float)."""
    if value is None or declared_type is object:
        return value
    if declared_type is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if declared_type in (tuple, list) and isinstance(value, (tuple, list)):
        return declared_type(value)
    if declared_type is int and isinstance(value, bool):
        raise TypeError(value)
    if not isinstance(value, declared_type):
        raise TypeError(value)
    return value


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Mapping[str, Any] | Sequence[str]) -> ml_collections.ConfigDict:
    """Sets dotted keys in place, as `--config.KEY=VALUE` does, and returns `config`.

    `overrides` is a mapping ({"mesh.fsdp": -1, "lr_configs.base_learning_rate": "0.05"}) or a
    sequence of command-line strings ("batch_size=32"). String values are parsed as the key's
    declared type (keys declared None: a Python literal, else the string); other values are
    checked against it. Any declared key can be set, also one that holds None. Raises
    ConfigError naming an unknown key (with the closest known one) or a value of the wrong type.
    """
    if isinstance(overrides, Mapping):
        items = [(key, value, f"override {key}={value!r}") for key, value in overrides.items()]
    else:
        items = []
        for text in overrides:
            key, equals, value = text.partition("=")
            # A bare --config.KEY switches a boolean on, as absl flags do.
            items.append((key, value if equals else "True", f"--config.{text}"))
    declared_root = default_config()
    for dotted, value, label in items:
        node, declared = config, declared_root
        *parents, leaf = dotted.split(".")
        for depth, parent in enumerate(parents):
            if parent not in declared:
                raise _unknown_key(dotted, label)
            if not isinstance(declared[parent], ml_collections.ConfigDict):
                section = ".".join(parents[:depth + 1])
                raise ConfigError(f"config.{section} is not a section of keys ({label}).")
            node, declared = node[parent], declared[parent]
        if leaf not in declared:
            raise _unknown_key(dotted, label)
        declared_type = _declared_type(declared, leaf)
        if declared_type is ml_collections.ConfigDict:
            raise ConfigError(f"config.{dotted} is a section; set its keys one by one ({label}).")
        try:
            parsed = _parse_value(value, declared_type) if isinstance(value, str) else value
            node[leaf] = _coerce(parsed, declared_type)
        except (TypeError, ValueError, SyntaxError):
            raise ConfigError(
                f"{label}: config.{dotted} expects {_type_name(declared_type)}.") from None
    return config


def _error_in_file(path: str, error: BaseException) -> ConfigError:
    """One line naming the config file's line that raised `error` and what it says."""
    # The deepest line in the config file or a helper module beside it.
    directory = os.path.dirname(os.path.abspath(path))
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if os.path.dirname(os.path.abspath(frame.filename)) == directory]
    where = f"Config file '{path}'"
    if frames:
        if os.path.abspath(frames[-1].filename) != os.path.abspath(path):
            where = f"Config file '{path}', in '{frames[-1].filename}'"
        where += f" line {frames[-1].lineno}"
        if frames[-1].line:
            where += f" ({frames[-1].line.strip()})"
    message = str(error).strip() or type(error).__name__
    # ml_collections' messages for a key a config lacks span lines (one lists every field).
    missing = re.match(r"""['"]?Key "([^"]+)" does not exist""", message)
    suggestion = re.search(r'Did you mean "([^"]+)" instead of "([^"]+)"', message)
    if missing or (suggestion and isinstance(error, (AttributeError, KeyError))):
        key = missing.group(1) if missing else suggestion.group(2)
        hint = f" Did you mean '{suggestion.group(1)}'?" if suggestion else ""
        return ConfigError(f"{where}: unknown config key '{key}'.{hint}")
    return ConfigError(f"{where}: {type(error).__name__}: {message.splitlines()[0]}")


@contextlib.contextmanager
def _siblings_importable(directory: str) -> Iterator[None]:
    """Lets a config file import modules beside it (`from common import ...`), then forgets
    them, so config directories with same-named helpers never see each other's."""
    before = set(sys.modules)
    sys.path.insert(0, directory)
    try:
        yield
    finally:
        sys.path.remove(directory)
        for name in set(sys.modules) - before:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if os.path.dirname(os.path.abspath(origin)) == directory:
                del sys.modules[name]


def load_config_file(path: str, arg: str | None = None) -> ml_collections.ConfigDict:
    """The `get_config()` (or `get_config(arg)`) of a config file, as the file returns it.

    The one loader of config files (main.py, flops, export, tests). A file that does not parse
    or raises is reported as one ConfigError line naming the file and line.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file '{path}' does not exist.")
    spec = importlib.util.spec_from_file_location(f"vivit_config_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        with _siblings_importable(os.path.dirname(os.path.abspath(path))):
            sys.modules[spec.name] = module  # Forgotten on exit; dataclasses need it.
            spec.loader.exec_module(module)
            if not hasattr(module, "get_config"):
                raise ConfigError(f"Config file '{path}' has no get_config() function.")
            return module.get_config() if arg is None else module.get_config(arg)
    except ConfigError:
        raise
    except SyntaxError as error:
        text = (error.text or "").strip()
        raise ConfigError(f"Config file '{error.filename or path}' line {error.lineno}: "
                          f"{error.msg}" + (f": {text}" if text else "")) from None
    except Exception as error:  # noqa: BLE001 - anything a config file raises is named in one line.
        raise _error_in_file(path, error) from None


def split_override_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """argv -> (other arguments, overrides): `--config.KEY=VALUE` gives 'KEY=VALUE', a bare
    `--config.KEY` 'KEY' (True), `--noconfig.KEY` 'KEY=False'. For command lines whose other
    flags absl parses (main.py, vivit.flops); pass the overrides to `load_config`."""
    rest, overrides = [], []
    for arg in argv:
        if arg.startswith("--config."):
            overrides.append(arg[len("--config."):])
        elif arg.startswith("--noconfig."):
            overrides.append(arg[len("--noconfig."):] + "=False")
        else:
            rest.append(arg)
    return rest, overrides


def split_config_spec(spec: str) -> tuple[str, str | None]:
    """'configs/vit.py:L/16' -> ('configs/vit.py', 'L/16'); without ':ARG' -> (spec, None)."""
    match = re.fullmatch(r"(.+?\.py):(.*)", spec)
    if match and not os.path.isfile(spec):
        return match.group(1), match.group(2)
    return spec, None


def load_config(spec: str, overrides: Mapping[str, Any] | Sequence[str] = ()
                ) -> ml_collections.ConfigDict:
    """'FILE[:ARG]' plus dotted overrides -> the completed, locked config a run uses.

    What main.py does with --config=FILE[:ARG] --config.KEY=VALUE ...: load the file, give every
    key it leaves out its default (`complete`), then apply the overrides, so any declared key
    can be overridden whether or not the file sets it. Raises ConfigError (one line) on bad input.
    """
    path, arg = split_config_spec(spec)
    return apply_overrides(complete(load_config_file(path, arg)), overrides)
