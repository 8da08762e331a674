"""The verifiers sanp can prove with, by name: a `sanp.plugins.Registry` of classes that
build a `sanp.prove.verifier.Verifier`. Marabou is the one sanp ships and the default;
a package adds its own through the "sanp.verifiers" entry-point group, code through
`VERIFIERS.register(name, cls)`. `sanp prove --verifier NAME` and `sanp prune --prove
--verifier NAME` choose one.

A verifier class is called with no arguments. It may define `require(feature)`, a
static or class method that raises a SanpError (e.g. `sanp.extras.MissingExtraError`)
when the verifier cannot run here; sanp calls it before any work, with the words of the
feature asking ("proving", "--prove").

    >>> make_verifier("marabou").describe()
    'marabou (maraboupy 2.0.0)'
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

from sanp.plugins import PluginError, Registry
from sanp.prove.verifier import Verifier

DEFAULT = "marabou"
"""The verifier used when none is named."""

VERIFIERS: Registry[Callable[[], Verifier]] = Registry(
    "sanp.verifiers", "verifier", {"marabou": "sanp.prove.marabou:MarabouVerifier"})


def check_verifier(name: str | None, feature: str = "proving") -> None:
    """Raise before any work when verifier `name` (None: the default) is unknown
    (PluginError, with a did-you-mean) or cannot run here (its own `require`)."""
    factory = VERIFIERS.load(name or DEFAULT)
    need = getattr(factory, "require", None)
    if callable(need):
        need(feature)


def make_verifier(name: str | None = None, feature: str = "proving") -> Verifier:
    """A new instance of verifier `name` (None: the default), checked as `check_verifier` does."""
    name = name or DEFAULT
    check_verifier(name, feature)
    verifier = VERIFIERS.load(name)()
    if not isinstance(verifier, Verifier):
        raise PluginError(f"verifier {name!r} builds a {type(verifier).__name__}, which lacks part of "
                          "sanp.prove.verifier.Verifier (name, label, describe(), find_violation())")
    return verifier


def verifier_label(description: object) -> str:
    """The verifier's name for people ("Marabou") from what a report records of it
    ("marabou (maraboupy 2.0.0)"); reports that record none were proved with the default.
    The description itself when its verifier is not installed here."""
    text = description if isinstance(description, str) and description.strip() else DEFAULT
    try:
        label = getattr(VERIFIERS.load(text.split()[0]), "label", None)
    except PluginError:
        label = None
    return label if isinstance(label, str) else text


def verifier_option(text: str) -> str:
    """argparse type of `--verifier`: a known name (built-in, registered or installed)."""
    try:
        return VERIFIERS.check(text)
    except PluginError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
