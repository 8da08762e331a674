"""One pattern for every extension point: a lazy table of built-ins written as
`"module:attribute"`, `register()` for code, and an entry-point group through which an
installed package adds its own. CLI choices, config checks and report labels read the
registry, so adding an optimiser, a policy format, a verifier or a recipe is one file
plus one table line.

A package ships a plug-in by naming it in its `pyproject.toml`:

    [project.entry-points."sanp.proposers"]
    cmaes = "my_pkg.cmaes:CMAESProposer"

Example:
    >>> reg = Registry("sanp.examples", "example", {"dict": "builtins:dict"})
    >>> reg.names()
    ['dict']
    >>> reg.load("dict") is dict
    True
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from importlib import import_module
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from sanp.errors import SanpError

T = TypeVar("T")


class PluginError(SanpError):
    """An unknown name, or a plug-in that does not load."""


class Registry(Generic[T]):
    """Names -> implementations of one extension point (`group` is its entry-point
    group, `kind` the word used in messages: "optimiser", "policy format", ...)."""

    def __init__(self, group: str, kind: str, builtins: Mapping[str, str]):
        self.group = group
        self.kind = kind
        self._builtins = dict(builtins)
        self._registered: dict[str, T] = {}
        self._entry_points: dict[str, str] | None = None
        self._failed: dict[str, str] = {}

    def register(self, name: str, target: T) -> None:
        """Make `name` mean `target` (replacing a built-in or an earlier registration)."""
        self._registered[name] = target

    def names(self) -> list[str]:
        """Every known name: built-in, registered, or from an installed package."""
        return sorted(set(self._builtins) | set(self._registered) | set(self._discover()))

    def builtin_names(self) -> list[str]:
        """The names sanp ships, in table order (the first is the default where one is)."""
        return list(self._builtins)

    def load(self, name: str) -> T:
        """The implementation `name` stands for; PluginError naming the known ones, or
        why an installed plug-in does not load."""
        if name in self._registered:
            return self._registered[name]
        where = self._builtins.get(name) or self._discover().get(name)
        if where is None:
            raise PluginError(self._unknown(name))
        try:
            module, _, attribute = where.partition(":")
            target = getattr(import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise PluginError(
                f"{self.kind} {name!r} ({where}) does not load: {_one_line(exc)}; "
                f"fix or reinstall the package that provides it"
            ) from None
        self._registered[name] = target
        return target

    def check(self, name: str) -> str:
        """`name` if known, else PluginError with a did-you-mean (for config checks)."""
        if name not in self.names():
            raise PluginError(self._unknown(name))
        return name

    def _discover(self) -> dict[str, str]:
        if self._entry_points is None:
            self._entry_points = {ep.name: ep.value for ep in entry_points(group=self.group)}
        return self._entry_points

    def _unknown(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return (
            f"unknown {self.kind} {name!r}: {hint}known: {', '.join(known)} "
            f"(packages add more through the {self.group!r} entry-point group)"
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
