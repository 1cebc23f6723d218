"""`Registry`: a config value -> entry map, the shape of every extension point (datasets,
attention types, backbones). Adding an entry is one `register` call; an unknown value is one
ValueError naming the config key and the registered values."""

from __future__ import annotations

from typing import Generic, TypeVar

Entry = TypeVar("Entry")


class Registry(dict[str, Entry], Generic[Entry]):
    """A dict of entries with `register` (refuses a name twice) and `lookup` (names the key).

    kind: what an entry is, for the "already registered" error (e.g. "Backbone").
    unknown: the error for an unregistered name, formatted with `name` and `known` (a tuple).
    """

    def __init__(self, kind: str, unknown: str) -> None:
        super().__init__()
        self.kind, self.unknown = kind, unknown

    def register(self, name: str, entry: Entry) -> Entry:
        """Makes `name` a valid config value; returns the entry."""
        if name in self:
            raise ValueError(f"{self.kind} {name!r} is already registered.")
        self[name] = entry
        return entry

    def lookup(self, name: str) -> Entry:
        """The entry of `name`; ValueError naming the config key and the registered names."""
        if name not in self:
            raise ValueError(self.unknown.format(name=name, known=tuple(self)))
        return self[name]
