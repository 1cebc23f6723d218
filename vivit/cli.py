"""absl flags for the package's `python -m` tools.

Each tool defines its flags on its own `flags.FlagValues` (not absl's global FLAGS), so its
`main(argv)` can run again and again in one process (tests) and tools never share flag names.
"""

from __future__ import annotations

import sys
from typing import Any, NoReturn, Sequence

from absl import flags

HELP_FLAGS = ("--help", "-h", "--helpshort", "--helpfull")


def parse_flags(flag_values: flags.FlagValues, argv: Sequence[str], prog: str, command: str,
                description: str = "", unknown_hint: str = "") -> list[str]:
    """Parses `argv` (without the program name) into `flag_values`; returns the positional args.

    `--help` prints `usage: {command}`, the description and the flags, and exits 0. A bad or unknown flag prints one line
    `{prog}: error: ...` (with `unknown_hint` after an unknown flag) and exits 2.
    """
    argv = list(argv)
    if any(arg in HELP_FLAGS for arg in argv):
        print(f"usage: {command}\n\n{description.strip()}\n\nflags:\n"
              f"{flags_help(flag_values)}")
        raise SystemExit(0)
    flag_values.unparse_flags()
    try:
        return flag_values([prog, *argv])[1:]
    except flags.UnrecognizedFlagError as error:
        fail(prog, f"{error}{unknown_hint}")
    except flags.Error as error:
        fail(prog, str(error))


def fail(prog: str, message: str) -> NoReturn:
    """One line on stderr, exit code 2 (a usage error)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def flags_help(flag_values: flags.FlagValues) -> str:
    """The tool's own flags (not absl's --flagfile and friends), one or two lines each."""
    lines = []
    for flag in _own_flags(flag_values):
        default = "" if flag.default is None else f" (default: {flag.default})"
        lines.append(f"  --{flag.name}: {flag.help}{default}")
    return "\n".join(lines)


def flag_dict(flag_values: flags.FlagValues) -> dict[str, Any]:
    """{name: parsed value} of the tool's own flags."""
    return {flag.name: flag.value for flag in _own_flags(flag_values)}


def _own_flags(flag_values: flags.FlagValues) -> list[flags.Flag]:
    return sorted((flag for module, module_flags in flag_values.flags_by_module_dict().items()
                   if not module.startswith("absl.") for flag in module_flags),
                  key=lambda flag: flag.name)
