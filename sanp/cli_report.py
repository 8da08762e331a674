"""The report option every report-writing command takes (`sanp verify`, `prune`,
`prove`): `--json FILE`, `-` for stdout. Its own module, so that `sanp.cli_parser` and
`sanp.prove.command` (which adds prove's options) both use it without importing each
other.

    >>> add_json_option(parser, "--report")   # prune keeps --report as an alias
"""
from __future__ import annotations

import argparse
from typing import Any

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
