"""Lark's syntax errors -> `SpecError`s that say what was expected, in words."""
from __future__ import annotations

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from stl.builder import FORMULA_KEYWORDS, STATEMENT_KEYWORDS
from stl.errors import SpecError, did_you_mean

_TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "ENV_ID": "an environment id such as CartPole-v1",
    "STRING": "a quoted string", "_NL": "the end of the line", "$END": "the end of the file",
    "CMP": "a comparison (<, <=, >, >=, ==, !=)", "_LPAR": "'('", "_RPAR": "')'",
    "_LSQB": "'['", "_RSQB": "']'", "_COMMA": "','", "_COLON": "':'", "_EQ": "'='",
    "MINUS": "'-'", "PLUS": "'+'", "STAR": "'*'", "SLASH": "'/'", "INF": "'inf'",
    "_IN": "'in'", "OBS": "'obs'", "ACTION": "'action'", "REWARD": "'reward'",
    "TRUE": "'true'", "FALSE": "'false'", "ABS": "'abs'",
}
_BINARY_OPS = {"AND", "OR", "XOR", "IMPLIES", "IFF", "UNTIL", "SINCE", "IMPLIES_ARROW",
               "IFF_ARROW", "UNTIL_U", "SINCE_S"}
_ARITH_OPS = {"PLUS", "MINUS", "STAR", "SLASH"}


def _describe_expected(expected: set[str]) -> str:
    exp = set(expected)
    if {"ENV", "REQ", "SIGNAL"} <= exp:
        return "a statement (env, horizon, reset_seed, reward, signal, const, search, req, region or prop)"
    if {"NAME", "NUMBER", "NOT"} <= exp:
        return "a formula (e.g. `x <= 1`, `true`, `not ...`, `always ...`) or a number"
    if {"NAME", "NUMBER", "MINUS"} <= exp and "NOT" not in exp:
        return "a number or a name"
    words: list[str] = []
    if exp & _BINARY_OPS:
        words.append("an operator (and, or, implies, until, ...)")
        exp -= _BINARY_OPS | {"AND", "OR", "XOR"}
    if exp & _ARITH_OPS and "CMP" in exp:
        words.append("an arithmetic operator or a comparison")
        exp -= _ARITH_OPS | {"CMP"}
    for t in sorted(exp):
        if t.endswith(("_G", "_F", "_H", "_O", "_U", "_S")) and t.rsplit("_", 1)[0] in exp:
            continue
        words.append(_TERMINAL_WORDS.get(t, f"'{t.lower()}'"))
    words = list(dict.fromkeys(words))
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _token_text(tok: Token) -> str:
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "$END":
        return "end of file"
    return f"'{tok}'"


_CHAR_HINTS = {
    "&": "write 'and' instead of '&' or '&&'",
    "|": "write 'or' instead of '|' or '||'",
    "!": "write 'not' for negation; '!=' compares",
    "~": "write 'not' for negation",
    "=": "use '==' to compare",
    "{": "group with parentheses ( )",
    "}": "group with parentheses ( )",
    '"': "quoted strings are only allowed as env arguments",
    "'": "quoted strings are only allowed as env arguments",
    ";": "put one statement per line; no ';' needed",
}


def syntax_error(err: UnexpectedInput, text: str, source: str) -> SpecError:
    """The SpecError for a Lark syntax error in `text`."""
    line, column = err.line, err.column
    hint = None
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if 0 <= err.pos_in_stream < len(text) else "?"
        expected = _describe_expected(set(err.allowed or ()))
        msg = f"unexpected character {ch!r}; expected {expected}"
        hint = _CHAR_HINTS.get(ch)
    elif isinstance(err, UnexpectedToken):
        tok = err.token
        if tok.type == "$END":
            lines = text.split("\n")
            line = max(1, len(lines) - (1 if lines and lines[-1] == "" else 0))
            column = len(lines[line - 1]) + 1 if lines else 1
        expected = _describe_expected(set(err.expected))
        msg = f"unexpected {_token_text(tok)}; expected {expected}"
        exp = set(err.expected)
        history = [t for t in (err.token_history or ()) if t is not None]
        prev = history[-1] if history else None
        if tok.type == "_EQ" and "CMP" in exp:
            hint = "use '==' to compare"
        elif {"ENV", "REQ"} <= exp and str(tok).isidentifier():
            hint = did_you_mean(str(tok), STATEMENT_KEYWORDS) or (
                "each line starts with env, horizon, reset_seed, reward, signal, const, search, req, region "
                "or prop")
        elif tok.type in ("_LPAR", "NAME") and getattr(prev, "type", None) == "NAME":
            hint = did_you_mean(str(prev), FORMULA_KEYWORDS)
        elif tok.type == "CMP" and "CMP" not in exp:
            hint = "comparisons do not chain: write `a < b and b < c`"
        elif tok.type == "_NL" and "_COLON" in exp:
            hint = "write `req NAME: formula`"
    else:  # pragma: no cover - lark's other UnexpectedInput kinds
        msg = f"syntax error: {err}"
    return SpecError(msg, line=line, column=column, source=source, text=text, hint=hint)
