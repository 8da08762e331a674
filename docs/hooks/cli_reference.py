"""MkDocs hook: writes the command-line reference from sanp's own argparse parser.

The page docs/reference/cli.md holds the marker `<!-- cli-reference -->`; at build time
it is replaced by one section per command, each option with its metavar, choices,
default and help, walked from `sanp.cli_parser.build_parser()`. The reference therefore
cannot drift from the parser; tests/test_docs.py builds the site in strict mode.
"""
from __future__ import annotations

import argparse
from typing import Any

MARKER = "<!-- cli-reference -->"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help_of(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name or choice.metavar == name:
                    return choice.help or ""
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _spelling(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    if action.nargs == 0:
        return ", ".join(f"`{o}`" for o in action.option_strings)
    metavar = action.metavar or (
        "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.dest.upper())
    return ", ".join(f"`{o} {metavar}`" for o in action.option_strings)


def _details(action: argparse.Action) -> str:
    # expanded as argparse expands it (`help % params`), so that a help text built when
    # shown (the policy formats, read from their registry) shows here as in --help
    text = action.help % dict(vars(action), prog="sanp") if action.help and action.help != argparse.SUPPRESS else ""
    extras = []
    if action.choices and action.option_strings and action.metavar is not None:
        extras.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    if action.required and action.option_strings:
        extras.append("required")
    if action.nargs in ("+", "*", "?") and not action.option_strings:
        extras.append({"+": "one or more", "*": "any number", "?": "optional"}[action.nargs])
    unset = any(action.default is v for v in (None, False, argparse.SUPPRESS))
    shown = not unset and action.default != []
    if shown and "default" not in text:
        extras.append(f"default `{action.default}`")
    if isinstance(action, argparse._AppendAction) and "repeatable" not in text:
        extras.append("repeatable")
    if extras:
        text = f"{text} ({'; '.join(extras)})" if text else "; ".join(extras).capitalize()
    return _cell(text)


def _table(actions: list[argparse.Action]) -> list[str]:
    rows = ["| argument | meaning |", "|---|---|"]
    for action in actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        rows.append(f"| {_cell(_spelling(action))} | {_details(action)} |")
    return rows if len(rows) > 2 else []


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=88)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip()


def _groups(parser: argparse.ArgumentParser) -> list[str]:
    lines: list[str] = []
    for group in parser._action_groups:
        rows = _table(list(group._group_actions))
        if not rows:
            continue
        title = group.title or "options"
        lines += ["", f"**{title[0].upper()}{title[1:]}**", ""] + rows
    return lines


def reference() -> str:
    """The markdown of every command of `sanp`, in the parser's order."""
    from sanp.cli_parser import build_parser

    top = build_parser()
    lines = ["```", _usage(top), "```", "", top.description or ""] + _groups(top)
    for name, parser in _subcommands(top).items():
        summary = _help_of(top, name)
        lines += ["", f"## `sanp {name}`", "", summary[:1].upper() + summary[1:],
                  "", "```", _usage(parser), "```"]
        if parser.description:
            lines += ["", parser.description]
        lines += _groups(parser)
    return "\n".join(lines) + "\n"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference())
