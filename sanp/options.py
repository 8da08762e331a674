"""The options of the Python API (`sanp.verify`, `sanp.prune`, `sanp.prove`): the
command's own argparse options, with their names, defaults and checks, so that a
keyword argument means and accepts exactly what the CLI's option does.

    >>> ns = namespace("verify", {"budget": 20, "collect_all": True})
    >>> ns.budget, ns.all, ns.optimizer
    (20, True, 'bo')
"""
from __future__ import annotations

import argparse
import difflib
import os
from collections.abc import Mapping
from typing import Any

from sanp.errors import OptionError

ALIASES = {"collect_all": "all", "requirements": "requirement", "report": "json"}
"""Python spellings accepted beside the CLI's option names."""

NOT_IN_API = {
    "json": "call .to_json(path) on the result instead",
    "plots": "render the full page with figures with .to_html(path) on the result (or `sanp report`)",
    "report": "call .to_json(path) on the result instead",
    "resume": "resuming needs the CLI's checkpoint beside -o: use `sanp prune ... --resume`",
    "policy": "pass the policy as the first argument",
    "spec": "pass the spec as the second argument",
}
"""CLI options the API does not take, and what to do instead."""


def _command_parser(command: str) -> argparse.ArgumentParser:
    from sanp.cli_parser import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command]


def _options(command: str) -> dict[str, argparse.Action]:
    return {a.dest: a for a in _command_parser(command)._actions
            if a.dest not in ("help", *NOT_IN_API) and a.dest is not argparse.SUPPRESS}


def names(command: str) -> list[str]:
    """The keyword arguments `sanp.<command>` takes."""
    return sorted(_options(command))


def namespace(command: str, given: Mapping[str, Any]) -> argparse.Namespace:
    """The argparse Namespace the CLI would build for `command` with these options:
    defaults for the others, each value checked by the option's own type and choices.
    Raises OptionError naming the option and the fix."""
    actions = _options(command)
    values = {a.dest: a.default for a in _command_parser(command)._actions if a.dest != "help"}
    values.update(debug=False, command=command)
    for key, value in given.items():
        name = ALIASES.get(key, key)
        if name in NOT_IN_API:
            raise OptionError(f"sanp.{command}: {key}= is a CLI option; {NOT_IN_API[name]}")
        if name not in actions:
            close = difflib.get_close_matches(name, [*actions, *ALIASES], n=1)
            hint = f"did you mean {close[0]}?" if close else f"the options are {', '.join(sorted(actions))}"
            raise OptionError(f"sanp.{command}: unknown option {key}=; {hint}")
        values[name] = _check(command, key, actions[name], value)
    return argparse.Namespace(**values)


def _check(command: str, key: str, action: argparse.Action, value: Any) -> Any:
    """`value` as the option's parser would leave it, or OptionError."""
    where = f"sanp.{command}: {key}={value!r}"
    if action.nargs == 0:  # a flag
        if not isinstance(value, bool):
            raise OptionError(f"{where}: give True or False")
        return value
    if value is None:
        return None
    if isinstance(action, argparse._AppendAction):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
            raise OptionError(f"{where}: give a name or a list of names")
        return list(items)
    if action.type is None:
        if not isinstance(value, (str, os.PathLike)):
            raise OptionError(f"{where}: give a string" + (" or a path" if action.metavar else ""))
        value = os.fspath(value)
    else:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise OptionError(f"{where}: give a number")
        try:
            value = action.type(str(value))
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise OptionError(f"{where}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise OptionError(f"{where}: choose one of {', '.join(map(repr, action.choices))}")
    return value
