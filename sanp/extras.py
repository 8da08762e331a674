"""The optional parts of sanp and the extra that installs each: the Marabou prover
(`sanp[prove]`), Ray (`sanp[ray]`), highway-env (`sanp[highway]`); `sanp[all]` has them all.

A feature that needs one calls `require` before it starts any work, so a missing extra
is one line naming it (exit 2 from the CLI), not a traceback minutes into a run.

Example:
    >>> require("maraboupy", "sanp prove")
    MissingExtraError: sanp prove needs the Marabou verifier (maraboupy): pip install 'sanp[prove]'
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import NamedTuple

from sanp.errors import SanpError


class Extra(NamedTuple):
    extra: str
    """The name in `pip install 'sanp[NAME]'`."""
    what: str
    """What the module is, for the message."""
    last_python: tuple[int, int] | None = None
    """The newest Python the module has wheels for (None: every Python sanp supports)."""


EXTRAS: dict[str, Extra] = {
    "maraboupy": Extra("prove", "the Marabou verifier", (3, 11)),
    "ray": Extra("ray", "Ray"),
    "highway_env": Extra("highway", "highway-env"),
}
"""Top-level module -> the extra that installs it."""


class MissingExtraError(SanpError):
    """Raised when a feature needs a module of an optional extra that is not installed."""

    def __init__(self, module: str, feature: str):
        e = EXTRAS[module]
        install = f"pip install 'sanp[{e.extra}]'"
        if e.last_python and sys.version_info[:2] > e.last_python:
            last = ".".join(map(str, e.last_python))
            install = f"it has no build for Python {sys.version_info[0]}.{sys.version_info[1]}; " \
                      f"use Python {last} or older and {install}"
        super().__init__(f"{feature} needs {e.what} ({module}): {install}")
        self.module, self.extra = module, e.extra


def available(module: str) -> bool:
    """Whether `module` can be imported, without importing it (Ray's import takes seconds)."""
    if module in sys.modules:
        return sys.modules[module] is not None  # None: import blocked, as `import` treats it
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, feature: str) -> None:
    """Raise MissingExtraError (naming the extra) when `module` is not installed."""
    if not available(module):
        raise MissingExtraError(module, feature)


def load(module: str, feature: str) -> ModuleType:
    """Import `module`; MissingExtraError (naming the extra) when it is not installed."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name != module and not exc.name.startswith(f"{module}."):
            raise  # installed, but one of its own imports is broken: that error says more
        raise MissingExtraError(module, feature) from None
