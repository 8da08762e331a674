"""The options and checks that `sanp.cli_parser` and `sanp.prove.command` (which adds
prove's options) share, in a module of their own so that neither imports the other: the
report option every report-writing command takes (`--json FILE`, `-` for stdout) and the
checks of whole numbers and of `--workers` (at most SANP_MAX_WORKERS).

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


def workers(text: str) -> int:
    """`--workers N`: a positive number of processes, at most SANP_MAX_WORKERS."""
    from sanp.errors import SanpError
    from sanp.limits import limit

    value = positive_int(text)
    try:
        most = limit("MAX_WORKERS")
    except SanpError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value > most:
        raise argparse.ArgumentTypeError(
            f"{value} is over sanp's limit of {most} worker processes; raise it with SANP_MAX_WORKERS=N")
    return value


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
