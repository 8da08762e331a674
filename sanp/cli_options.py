"""The option types and shared options of `sanp.cli_parser`: the report option every
report-writing command takes (`--json FILE`, `-` for stdout) and the checks of whole
numbers, of bounded positive numbers (`positive`) and of `--workers` (at most
SANP_MAX_WORKERS).

    >>> add_json_option(parser, "--report")   # prune keeps --report as an alias
"""
from __future__ import annotations

import argparse
from typing import Any


def whole(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        need = "a positive whole number" if minimum == 1 else f"{minimum} or more"
        raise argparse.ArgumentTypeError(f"must be {need}, got {value}")
    return value


def positive_int(text: str) -> int:
    return whole(text, 1)


def capped(name: str, what: str) -> Any:
    """argparse type: a positive whole number of at most sanp's limit SANP_<name>."""
    def parse(text: str) -> int:
        from sanp.errors import SanpError
        from sanp.limits import limit

        value = positive_int(text)
        try:
            most = limit(name)
        except SanpError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if value > most:
            raise argparse.ArgumentTypeError(
                f"{value:,} is over sanp's limit of {most:,} {what}; raise it with SANP_{name}=N")
        return value

    return parse


def positive(kind: type, most: float | None = None, unit: str = "") -> Any:
    """argparse type: a positive, finite `kind` (int or float) of at most `most`."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be positive and finite, got {text}")
        if most is not None and value > most:
            raise argparse.ArgumentTypeError(f"{text} is over the maximum of {most:g}{unit}")
        return value

    return parse


workers = capped("MAX_WORKERS", "worker processes")
"""`--workers N`: a positive number of processes, at most SANP_MAX_WORKERS."""


JSON_HELP = "write the JSON report to FILE; '-' writes it to stdout (the tables then go to stderr)"


class _JsonFile(argparse.Action):
    """`--json FILE` (and its alias `--report`): remembers which one the user typed, so
    errors about the file name that option."""

    def __call__(self, parser, namespace, values, option_string=None):
        namespace.json = values
        namespace.json_option = option_string


def add_json_option(p: Any, *aliases: str) -> None:
    """The report option every report-writing command takes: `--json FILE`, `-` for stdout."""
    p.add_argument("--json", *aliases, action=_JsonFile, dest="json", metavar="FILE",
                   help=JSON_HELP + (f"; {', '.join(aliases)} is an alias" if aliases else ""))


class FormatsHelp(str):
    """The help of a POLICY argument: `prefix` then the policy formats sanp reads, taken
    from the format registry only when help is printed (building the parser, which every
    command does, must not import the readers)."""

    def __new__(cls, prefix: str = "") -> FormatsHelp:
        return super().__new__(cls, prefix + "the policy formats sanp reads")

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def __mod__(self, params: Any) -> str:  # argparse expands help with `help % params`
        from sanp.formats.readers import supported_formats

        return (self.prefix + supported_formats()).replace("%", "%%") % params


def natural(text: str) -> int:
    """argparse type: a whole number >= 0."""
    return whole(text, 0)


def fraction(text: str) -> float:
    """argparse type: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {value}")
    return value


def finite(text: str) -> float:
    """argparse type: a finite number."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def seconds(text: str) -> float:
    """A timeout: a positive number of seconds, at most a day."""
    from sanp.prove.limits import MAX_TIMEOUT

    return positive(float, MAX_TIMEOUT, " seconds (a day)")(text)
