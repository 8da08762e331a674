"""The errors the `stl` package raises.

`SpecError` points into the spec text: `str(err)` is the one-line
``file:line:col: message`` form, `err.pretty()` the multi-line form with the
offending line, a caret under the column and a hint.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class StlError(Exception):
    """Base class of every error the stl package raises."""


class SpecError(StlError):
    """Raised when a specification cannot be read, parsed or checked."""

    def __init__(
        self,
        message: str,
        *,
        line: int = 0,
        column: int = 0,
        source: str = "<string>",
        text: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        self.hint = hint
        self.source_line = _line_of(text, line)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.line > 0:
            return f"{self.source}:{self.line}:{self.column}: {self.message}"
        return f"{self.source}: {self.message}"

    def excerpt(self) -> str:
        """The offending source line with a caret under the column ('' if unknown)."""
        if self.source_line is None or self.line <= 0:
            return ""
        shown = self.source_line.expandtabs(1)
        col = max(1, min(self.column, len(shown) + 1))
        if len(shown) > _EXCERPT:  # a window around the column, not a megabyte line
            start = max(0, min(col - 1 - _EXCERPT // 2, len(shown) - _EXCERPT))
            shown = ("..." if start else "") + shown[start:start + _EXCERPT] + "..."
            col = col - start + (3 if start else 0)
        return f"    {shown}\n    {' ' * (col - 1)}^"

    def pretty(self) -> str:
        """Multi-line form: the one-line message, the excerpt with a caret, the hint."""
        parts = [str(self)]
        ex = self.excerpt()
        if ex:
            parts.append(ex)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class SignalError(StlError, ValueError):
    """Raised when the signals given for evaluation are missing, mis-shaped or too short."""


_EXCERPT = 100  # widest excerpt shown, in characters


def _line_of(text: str | None, line: int) -> str | None:
    if text is None or line <= 0:
        return None
    lines = text.split("\n")
    if line > len(lines):
        return None
    return lines[line - 1].rstrip("\r")


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A "did you mean 'x'?" hint for an unknown name, or None if nothing is close."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return None
    if len(close) == 1:
        return f"did you mean '{close[0]}'?"
    return "did you mean " + ", ".join(f"'{c}'" for c in close[:-1]) + f" or '{close[-1]}'?"
