"""Table cells and figures as the page templates draw them: plain strings or
`cell(...)` dicts (code, bold, badge), lists of them, and {uri, caption} figures.

    >>> cell("3f2a", hash=True)
    {'text': '3f2a', 'code': True, 'hash': True, 'bold': False, 'badge': None}
"""
from __future__ import annotations

from typing import Any

from sanp.report.drawing import png_bytes, png_uri

MAX_TABLE_ROWS = 100
"""Rows of a long table; the rest are counted, not listed."""


def cell(text: Any, *, code: bool = False, hash: bool = False, bold: bool = False,
         badge: str | None = None) -> dict[str, Any]:
    """A table cell with markup the template draws: code, a hash, bold text or a badge."""
    return {"text": str(text), "code": code or hash, "hash": hash, "bold": bold, "badge": badge}


def badge(text: str, colour: str) -> dict[str, Any]:
    """A coloured label (a status) as a table cell."""
    return cell(text, badge=colour)


def figure(pair: tuple[Any, str] | None) -> dict[str, str] | None:
    """A plots.*_figure result as the template's {uri, caption}."""
    if pair is None:
        return None
    fig, caption = pair
    return {"uri": png_uri(png_bytes(fig)), "caption": caption}


def limited(rows: list[Any], what: str, limit: int = MAX_TABLE_ROWS) -> tuple[list[Any], str]:
    """The first `limit` rows and a note counting the others."""
    if len(rows) <= limit:
        return rows, ""
    return rows[:limit], f"{len(rows) - limit} more {what} are in the JSON."
