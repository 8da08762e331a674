"""Spec text -> `SpecFile`: one cached Lark LALR parser whose inline transformer
(`stl.builder`) builds AST nodes while parsing, then the checking pass
(`stl.checker`: names, types, intervals). Syntax errors are worded by
`stl.syntax_errors`.

Nothing here recurses on the depth of the input while parsing: the LALR parser and
the inline transformer are iterative, and the transformer refuses formulas nested
more than `MAX_DEPTH` operators deep.
"""
from __future__ import annotations

import os
import stat
from functools import lru_cache
from importlib import resources

from lark import Lark, Token
from lark.exceptions import UnexpectedEOF, UnexpectedInput

from stl import ast as A
from stl.builder import MAX_DEPTH, STATEMENT_KEYWORDS, Builder, Deep
from stl.checker import Checker
from stl.errors import SpecError
from stl.syntax_errors import syntax_error

__all__ = ["MAX_BRACKETS", "MAX_DEPTH", "MAX_SPEC_BYTES", "MAX_STATEMENTS", "load", "parse"]

MAX_SPEC_BYTES = 1 << 20
"""Largest spec file `load` reads (1 MiB; sanp's own specs are under 2 KiB)."""
MAX_STATEMENTS = 2000
"""Most statements (lines of env, signal, const, search, req...) in one spec."""
MAX_BRACKETS = 5000
"""Deepest nesting of ( ) and [ ] (redundant parentheses do not count towards MAX_DEPTH)."""

_STATEMENT_TERMS = {k.upper() for k in STATEMENT_KEYWORDS}


class _Unclosed(Exception):
    def __init__(self, opener: Token, at: Token | None) -> None:
        super().__init__(opener)
        self.opener, self.at = opener, at


class _TooMany(Exception):
    def __init__(self, at: Token, what: str) -> None:
        super().__init__(at)
        self.at, self.what = at, what


class _BracketNewlines:
    """Post-lexer: drop newlines inside ( ) and [ ], so formulas may span lines there.

    A statement keyword at the start of a line while a bracket is still open means the
    bracket was never closed: report that rather than a confusing parse error. Brackets
    nested past MAX_BRACKETS and statements past MAX_STATEMENTS are refused as they arrive,
    so that no input costs more than a linear pass up to the limit.
    """

    always_accept = ("_NL",)

    def process(self, stream):
        open_stack: list[Token] = []
        line_start = True
        statements = 0
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if open_stack:
                    line_start = True
                    continue
                yield tok
                line_start = True
                continue
            if open_stack and line_start and kind in _STATEMENT_TERMS and kind != "REWARD":
                raise _Unclosed(open_stack[-1], tok)
            if line_start and not open_stack and kind in _STATEMENT_TERMS:
                statements += 1
                if statements > MAX_STATEMENTS:
                    raise _TooMany(tok, f"more than {MAX_STATEMENTS} statements in one spec")
            line_start = False
            if kind in ("_LPAR", "_LSQB"):
                if len(open_stack) >= MAX_BRACKETS:  # refused as they arrive, not after them all
                    raise _TooMany(tok, f"brackets nested more than {MAX_BRACKETS} deep")
                open_stack.append(tok)
            elif kind in ("_RPAR", "_RSQB") and open_stack:
                open_stack.pop()
            yield tok
        if open_stack:
            raise _Unclosed(open_stack[-1], None)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("stl.grammar").joinpath("stl.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        transformer=Builder(),
        postlex=_BracketNewlines(),
        maybe_placeholders=True,
    )


def parse(text: str, source: str = "<string>") -> A.SpecFile:
    """Parse and check spec `text`; `source` names it in error messages.

        >>> spec = parse("env CartPole-v1\\nsignal x = obs[0]\\nreq r: always (abs(x) <= 2.4)\\n")
        >>> list(spec.requirements), spec.signals["x"].index
        (['r'], 0)
    """
    if not isinstance(text, str):
        raise TypeError(f"parse() takes the spec text as str, got {type(text).__name__}")
    try:
        stmts = _parser().parse(text + "\n")
    except Deep as e:
        raise SpecError(f"formula nested too deeply (more than {MAX_DEPTH} levels)",
                        line=e.line, column=e.column, source=source, text=text,
                        hint="split it into several requirements") from None
    except _TooMany as e:
        raise SpecError(e.what, line=e.at.line, column=e.at.column, source=source, text=text,
                        hint="split it into several spec files or requirements") from None
    except _Unclosed as e:
        o = e.opener
        closer = ")" if o.type == "_LPAR" else "]"
        raise SpecError(f"'{o}' is never closed", line=o.line, column=o.column, source=source,
                        text=text, hint=f"add the missing '{closer}'") from None
    except UnexpectedEOF as e:  # pragma: no cover - LALR reports $END as UnexpectedToken
        raise SpecError("unexpected end of file", line=e.line, column=e.column,
                        source=source, text=text) from None
    except UnexpectedInput as e:
        raise syntax_error(e, text, source) from None
    return Checker(text, source).build(stmts)


def load(path: str | os.PathLike[str]) -> A.SpecFile:
    """Read and parse the spec file at `path` (unreadable file -> SpecError, line 0)."""
    source = os.fspath(path)
    try:
        # without blocking: opening a FIFO would otherwise wait for a writer for ever
        with os.fdopen(os.open(source, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise SpecError("not a regular file (a device, a FIFO?)", source=source,
                                hint="give the path of a .stl spec file")
            data = fh.read(MAX_SPEC_BYTES + 1)
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError(f"spec file is over the {MAX_SPEC_BYTES:,}-byte limit", line=1, column=1,
                            source=source, hint="split it into several spec files")
        text = data.decode("utf-8-sig")  # a byte order mark, as some Windows editors write, is dropped
    except FileNotFoundError:
        raise SpecError("spec file not found", source=source,
                        hint="check the path; spec files usually live in specs/") from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a spec file", source=source) from None
    except UnicodeDecodeError as e:
        raise SpecError(f"spec file is not UTF-8 text ({e.reason} at byte {e.start})",
                        source=source) from None
    except OSError as e:
        raise SpecError(f"cannot read spec file: {e.strerror or e}", source=source) from None
    return parse(text, source)
