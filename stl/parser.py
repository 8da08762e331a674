"""Spec text -> `SpecFile`: one cached Lark LALR parser, a tree-less transformer that
builds AST nodes while parsing, then a checking pass (names, types, intervals).

Nothing here recurses on the depth of the input while parsing: the LALR parser and
the inline transformer are iterative, and the transformer refuses formulas nested
more than `MAX_DEPTH` operators deep, so later recursive passes (resolution,
printing, evaluation, dataclass equality) stay far from Python's recursion limit.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from stl import ast as A
from stl.errors import SpecError, did_you_mean

MAX_DEPTH = 200
"""Deepest allowed nesting of operators in one formula (requirement references count)."""

STATEMENT_KEYWORDS = ("env", "horizon", "reward", "signal", "const", "search", "req")
FORMULA_KEYWORDS = (
    "true", "false", "abs", "not", "and", "or", "xor", "implies", "iff", "always",
    "eventually", "historically", "once", "until", "since", "next", "prev",
)
RESERVED = frozenset(
    STATEMENT_KEYWORDS + FORMULA_KEYWORDS + ("obs", "action", "in", "inf", "G", "F", "H", "O", "U", "S")
)

_OP_BY_TOKEN = {
    "IFF": "iff", "IFF_ARROW": "iff", "IMPLIES": "implies", "IMPLIES_ARROW": "implies",
    "OR": "or", "XOR": "xor", "AND": "and",
    "UNTIL": "until", "UNTIL_U": "until", "SINCE": "since", "SINCE_S": "since",
    "ALWAYS": "always", "ALWAYS_G": "always", "EVENTUALLY": "eventually",
    "EVENTUALLY_F": "eventually", "HISTORICALLY": "historically",
    "HISTORICALLY_H": "historically", "ONCE": "once", "ONCE_O": "once",
    "NEXT": "next", "PREV": "prev",
}

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
_STATEMENT_TERMS = {k.upper() for k in STATEMENT_KEYWORDS}


class _Deep(Exception):
    def __init__(self, line: int, column: int) -> None:
        super().__init__(line, column)
        self.line, self.column = line, column


class _Unclosed(Exception):
    def __init__(self, opener: Token, at: Token | None) -> None:
        super().__init__(opener)
        self.opener, self.at = opener, at


# ------------------------------------------------------------------ lexing
class _BracketNewlines:
    """Post-lexer: drop newlines inside ( ) and [ ], so formulas may span lines there.

    A statement keyword at the start of a line while a bracket is still open means the
    bracket was never closed: report that rather than a confusing parse error.
    """

    always_accept = ("_NL",)

    def process(self, stream):
        open_stack: list[Token] = []
        line_start = True
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
            line_start = False
            if kind in ("_LPAR", "_LSQB"):
                open_stack.append(tok)
            elif kind in ("_RPAR", "_RSQB") and open_stack:
                open_stack.pop()
            yield tok
        if open_stack:
            raise _Unclosed(open_stack[-1], None)


# ------------------------------------------------------------------ building
@dataclass(frozen=True)
class _Num:
    value: float
    is_int: bool
    tok: Token
    text: str


def _pos(x: Any) -> dict[str, int]:
    if isinstance(x, Token):
        return {"line": x.line, "column": x.column}
    if isinstance(x, _Num):
        return {"line": x.tok.line, "column": x.tok.column}
    return {"line": x.line, "column": x.column}


def _depth(*nodes: Any) -> int:
    return 1 + max((getattr(n, "_depth", 1) for n in nodes), default=0)


def _mk(cls: type, pos: Any, *args: Any, kids: tuple = ()) -> A.Node:
    node = cls(*args, **_pos(pos))
    d = _depth(*kids)
    if d > MAX_DEPTH:
        raise _Deep(node.line, node.column)
    object.__setattr__(node, "_depth", d)
    return node


@v_args(inline=True)
class _Builder(Transformer):
    """Builds AST nodes during the LALR parse; names stay unresolved (`SignalRef`)."""

    # ---- numbers
    def signed_number(self, *args: Token) -> _Num:
        minus = len(args) == 2
        tok = args[-1]
        value = float(tok)
        is_int = not any(c in tok for c in ".eE")
        return _Num(-value if minus else value, is_int, args[0], ("-" if minus else "") + tok)

    def bound(self, x: Any) -> Any:
        return x

    def interval(self, lo: Any, hi: Any) -> tuple:
        return ("interval", lo, hi)

    # ---- expressions
    def number(self, tok: Token) -> A.Node:
        return _mk(A.Num, tok, float(tok))

    def name(self, tok: Token) -> A.Node:
        return _mk(A.SignalRef, tok, str(tok))

    def true(self, tok: Token) -> A.Node:
        return _mk(A.BoolConst, tok, True)

    def false(self, tok: Token) -> A.Node:
        return _mk(A.BoolConst, tok, False)

    def abs_(self, tok: Token, x: A.Node) -> A.Node:
        return _mk(A.Abs, tok, x, kids=(x,))

    def neg(self, tok: Token, x: A.Node) -> A.Node:
        return _mk(A.Neg, tok, x, kids=(x,))

    def arith(self, left: A.Node, op: Token, right: A.Node) -> A.Node:
        return _mk(A.Arith, left, str(op), left, right, kids=(left, right))

    def compare(self, left: A.Node, op: Token, right: A.Node) -> A.Node:
        node = _mk(A.Compare, left, str(op), left, right, kids=(left, right))
        object.__setattr__(node, "_op_tok", op)
        return node

    # ---- formulas
    def not_(self, tok: Token, x: A.Node) -> A.Node:
        return _mk(A.Not, tok, x, kids=(x,))

    def binary(self, left: A.Node, op: Token, right: A.Node) -> A.Node:
        return _mk(A.Binary, left, _OP_BY_TOKEN[op.type], left, right, kids=(left, right))

    def unary_temporal(self, tok: Token, *rest: Any) -> A.Node:
        interval = rest[0] if len(rest) == 2 else None
        x = rest[-1]
        node = _mk(A.Temporal, tok, _OP_BY_TOKEN[tok.type], x, None, kids=(x,))
        object.__setattr__(node, "_raw_interval", interval)
        return node

    def binary_temporal(self, left: A.Node, op: Token, interval: Any, right: A.Node) -> A.Node:
        node = _mk(A.TemporalBinary, left, _OP_BY_TOKEN[op.type], left, right, None,
                   kids=(left, right))
        object.__setattr__(node, "_raw_interval", interval)
        object.__setattr__(node, "_op_tok", op)
        return node

    # ---- statements
    def value(self, x: Any) -> Any:
        return x

    def kwarg(self, name: Token, value: Any) -> tuple:
        return (name, value)

    def env_args(self, *kwargs: Any) -> list:
        return [k for k in kwargs if k is not None]

    def env_stmt(self, kw: Token, env_id: Token, args: Any) -> tuple:
        return ("env", kw, env_id, args or [])

    def horizon_stmt(self, kw: Token, n: _Num) -> tuple:
        return ("horizon", kw, n)

    def reward_stmt(self, kw: Token, op: Token, n: _Num) -> tuple:
        return ("reward", kw, op, n)

    def obs_source(self, kw: Token, idx: _Num) -> tuple:
        return ("obs", kw, idx)

    def action_index_source(self, kw: Token, idx: _Num) -> tuple:
        return ("action", kw, idx)

    def action_source(self, kw: Token) -> tuple:
        return ("action", kw, None)

    def reward_source(self, kw: Token) -> tuple:
        return ("reward", kw, None)

    def signal_stmt(self, kw: Token, name: Token, src: tuple) -> tuple:
        return ("signal", kw, name, src)

    def const_stmt(self, kw: Token, name: Token, n: _Num) -> tuple:
        return ("const", kw, name, n)

    def search_stmt(self, kw: Token, name: Token, lo: _Num, hi: _Num) -> tuple:
        return ("search", kw, name, lo, hi)

    def req_stmt(self, kw: Token, name: Token, formula: A.Node) -> tuple:
        return ("req", kw, name, formula)

    def start(self, *stmts: Any) -> list:
        return list(stmts)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("stl.grammar").joinpath("stl.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        transformer=_Builder(),
        postlex=_BracketNewlines(),
        maybe_placeholders=True,
    )


# ------------------------------------------------------------------ errors
def _describe_expected(expected: set[str]) -> str:
    exp = set(expected)
    if {"ENV", "REQ", "SIGNAL"} <= exp:
        return "a statement (env, horizon, reward, signal, const, search or req)"
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


def _syntax_error(err: UnexpectedInput, text: str, source: str) -> SpecError:
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
                "each line starts with env, horizon, reward, signal, const, search or req")
        elif tok.type in ("_LPAR", "NAME") and getattr(prev, "type", None) == "NAME":
            hint = did_you_mean(str(prev), FORMULA_KEYWORDS)
        elif tok.type == "CMP" and "CMP" not in exp:
            hint = "comparisons do not chain: write `a < b and b < c`"
        elif tok.type == "_NL" and "_COLON" in exp:
            hint = "write `req NAME: formula`"
    else:  # pragma: no cover - lark's other UnexpectedInput kinds
        msg = f"syntax error: {err}"
    return SpecError(msg, line=line, column=column, source=source, text=text, hint=hint)


# ------------------------------------------------------------------ checking
class _Checker:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source

    def error(self, msg: str, at: Any, hint: str | None = None) -> SpecError:
        pos = _pos(at) if at is not None else {"line": 1, "column": 1}
        return SpecError(msg, source=self.source, text=self.text, hint=hint, **pos)

    # ---- values
    def finite(self, n: _Num, what: str) -> float:
        if not math.isfinite(n.value):
            raise self.error(f"{what} {n.text} is out of range", n.tok,
                             "numbers must be finite double-precision values")
        return n.value

    def whole(self, n: _Num, what: str, minimum: int) -> int:
        value = self.finite(n, what)
        if not float(value).is_integer():
            raise self.error(f"{what} must be a whole number, got {n.text}", n.tok)
        if value < minimum:
            raise self.error(f"{what} must be at least {minimum}, got {format_num(n)}", n.tok)
        return int(value)

    def name_decl(self, tok: Token, kind: str) -> str:
        name = str(tok)
        if name in RESERVED:
            raise self.error(f"'{name}' is a reserved word and cannot name a {kind}", tok,
                             f"pick another name, e.g. '{name}_'")
        return name

    def interval(self, raw: Any, op_tok: Any) -> A.Interval | None:
        if raw is None:
            return None
        _, lo, hi = raw
        if isinstance(lo, Token):  # inf
            raise self.error("an interval cannot start at inf", lo,
                             "write [a:b] or [a:inf] with a a whole number of steps")
        lo_v = self.bound(lo, "interval start")
        hi_v = None if isinstance(hi, Token) else self.bound(hi, "interval end")
        if hi_v is not None and lo_v > hi_v:
            raise self.error(f"empty interval [{lo_v}:{hi_v}]: the start is after the end", lo.tok,
                             f"write [{hi_v}:{lo_v}]")
        return A.Interval(lo_v, hi_v)

    def bound(self, n: _Num, what: str) -> int:
        if not math.isfinite(n.value):
            raise self.error(f"{what} {n.text} is out of range", n.tok, "use inf for no end")
        if not float(n.value).is_integer():
            raise self.error(f"{what} must be a whole number of steps, got {format_num(n)}",
                             n.tok, "time is discrete: bounds count steps")
        if n.value < 0:
            raise self.error(f"{what} must not be negative, got {format_num(n)}", n.tok,
                             "past operators (historically, once, since, prev) look back")
        return int(n.value)

    # ---- formulas
    def resolve(self, node: A.Node, scope: dict[str, Any], req_name: str,
                later: dict[str, int]) -> tuple[A.Node, str, int]:
        """-> (resolved node, 'expr' | 'formula', depth)."""
        if isinstance(node, A.Num):
            if not math.isfinite(node.value):
                raise self.error("number is out of range", node)
            return node, "expr", 1
        if isinstance(node, A.BoolConst):
            return node, "formula", 1
        if isinstance(node, A.SignalRef):
            name = node.name
            pos = {"line": node.line, "column": node.column}
            entry = scope.get(name)
            if entry is None:
                if name == req_name:
                    raise self.error(f"requirement '{name}' refers to itself", node)
                if name in later:
                    raise self.error(
                        f"requirement '{name}' is defined later (line {later[name]})", node,
                        "a requirement may only use requirements defined above it")
                hint = did_you_mean(name, list(scope) + list(FORMULA_KEYWORDS))
                raise self.error(f"unknown name '{name}'", node,
                                 hint or "declare it with `signal`, `const` or `req`")
            kind, value = entry
            if kind == "signal":
                return A.SignalRef(name, **pos), "expr", 1
            if kind == "const":
                return A.ConstRef(name, value, **pos), "expr", 1
            req: A.Requirement = value
            return A.ReqRef(name, req.formula, **pos), "formula", 1 + getattr(req, "_depth", 1)
        kids = node.children()
        resolved = [self.resolve(k, scope, req_name, later) for k in kids]
        depth = 1 + max(r[2] for r in resolved)
        if depth > MAX_DEPTH:
            raise self.error(f"formula nested too deeply (more than {MAX_DEPTH} levels, "
                             "counting the requirements it uses)", node,
                             "split it into several requirements")
        pos = {"line": node.line, "column": node.column}
        if isinstance(node, (A.Neg, A.Abs, A.Arith, A.Compare)):
            for (sub, kind, _), orig in zip(resolved, kids):
                if kind != "expr":
                    raise self.error(f"expected a number here, but `{sub}` is a condition",
                                     orig, "arithmetic and comparisons work on numbers")
            subs = [r[0] for r in resolved]
            if isinstance(node, A.Neg):
                return A.Neg(subs[0], **pos), "expr", depth
            if isinstance(node, A.Abs):
                return A.Abs(subs[0], **pos), "expr", depth
            if isinstance(node, A.Arith):
                return A.Arith(node.op, subs[0], subs[1], **pos), "expr", depth
            return A.Compare(node.op, subs[0], subs[1], **pos), "formula", depth
        for (sub, kind, _), orig in zip(resolved, kids):
            if kind != "formula":
                raise self.error(f"expected a condition here, but `{sub}` is a number", orig,
                                 f"compare it, e.g. `{sub} > 0`")
        subs = [r[0] for r in resolved]
        if isinstance(node, A.Not):
            return A.Not(subs[0], **pos), "formula", depth
        if isinstance(node, A.Binary):
            return A.Binary(node.op, subs[0], subs[1], **pos), "formula", depth
        if isinstance(node, A.Temporal):
            iv = self.interval(getattr(node, "_raw_interval", None), node)
            return A.Temporal(node.op, subs[0], iv, **pos), "formula", depth
        if isinstance(node, A.TemporalBinary):
            iv = self.interval(getattr(node, "_raw_interval", None), node)
            return A.TemporalBinary(node.op, subs[0], subs[1], iv, **pos), "formula", depth
        raise TypeError(node)  # pragma: no cover

    # ---- the file
    def build(self, stmts: list[tuple]) -> A.SpecFile:
        env: tuple | None = None
        horizon: int | None = None
        reward: float | None = None
        seen_line: dict[str, int] = {}
        signals: dict[str, A.Signal] = {}
        consts: dict[str, float] = {}
        search: dict[str, tuple[float, float]] = {}
        reqs: dict[str, A.Requirement] = {}
        positions: dict[str, tuple[int, int]] = {}
        declared: dict[str, tuple[str, int]] = {}  # name -> (kind, line)

        def once(kind: str, kw: Token) -> None:
            if kind in seen_line:
                raise self.error(f"duplicate '{kind}' line", kw,
                                 f"'{kind}' was already given at line {seen_line[kind]}")
            seen_line[kind] = kw.line
            positions[kind] = (kw.line, kw.column)

        def declare(tok: Token, kind: str) -> str:
            name = self.name_decl(tok, kind)
            if name in declared:
                other, line = declared[name]
                raise self.error(f"duplicate name '{name}'", tok,
                                 f"'{name}' is already declared as a {other} at line {line}")
            declared[name] = (kind, tok.line)
            positions[name] = (tok.line, tok.column)
            return name

        req_lines = {str(s[2]): s[2].line for s in stmts if s[0] == "req"}
        # declarations first, so a requirement may use signals and consts declared anywhere
        for st in stmts:
            kind = st[0]
            if kind == "env":
                _, kw, env_id, args = st
                once("env", kw)
                kwargs: dict[str, bool | int | float | str] = {}
                for name_tok, val in args:
                    key = str(name_tok)
                    if key in kwargs:
                        raise self.error(f"duplicate env argument '{key}'", name_tok)
                    kwargs[key] = self.env_value(val)
                env = (str(env_id), kwargs)
            elif kind == "horizon":
                once("horizon", st[1])
                horizon = self.whole(st[2], "horizon", 1)
            elif kind == "reward":
                _, kw, op, n = st
                once("reward", kw)
                if str(op) != ">=":
                    raise self.error(f"the reward line takes '>=', not '{op}'", op,
                                     "write `reward >= 195`")
                reward = self.finite(n, "reward threshold")
            elif kind == "signal":
                _, kw, name_tok, (src, _src_tok, idx) = st
                name = declare(name_tok, "signal")
                index = None if idx is None else self.whole(idx, f"{src} index", 0)
                signals[name] = A.Signal(name, src, index)
            elif kind == "const":
                _, kw, name_tok, n = st
                name = declare(name_tok, "const")
                consts[name] = self.finite(n, "constant")
            elif kind == "search":
                _, kw, name_tok, lo, hi = st
                name = str(name_tok)
                key = f"search:{name}"
                if key in positions:
                    raise self.error(f"duplicate search range for '{name}'", name_tok,
                                     f"first given at line {positions[key][0]}")
                lo_v, hi_v = self.finite(lo, "search bound"), self.finite(hi, "search bound")
                if lo_v > hi_v:
                    raise self.error(f"empty search range [{lo_v}, {hi_v}]: lo is above hi",
                                     lo.tok, f"write [{hi_v}, {lo_v}]")
                search[name] = (lo_v, hi_v)
                positions[key] = (name_tok.line, name_tok.column)

        scope: dict[str, Any] = {n: ("signal", None) for n in signals}
        scope.update({n: ("const", v) for n, v in consts.items()})
        for st in stmts:
            if st[0] != "req":
                continue
            _, kw, name_tok, formula = st
            name = declare(name_tok, "requirement")
            later = {k: v for k, v in req_lines.items() if k not in reqs and k != name}
            node, kind, depth = self.resolve(formula, scope, name, later)
            if kind != "formula":
                raise self.error(f"requirement '{name}' is a number, not a condition", formula,
                                 f"compare it, e.g. `{node} <= 1`")
            req = A.Requirement(name, node, line=name_tok.line, column=name_tok.column)
            object.__setattr__(req, "_depth", depth)
            reqs[name] = req
            scope[name] = ("req", req)

        if env is None:
            raise self.error("missing 'env' line", None,
                             "start the spec with the environment, e.g. `env CartPole-v1`")
        if not reqs:
            last = max(1, len(self.text.rstrip("\n").split("\n")))
            raise SpecError("the spec has no requirement", line=last, column=1,
                            source=self.source, text=self.text,
                            hint="add one, e.g. `req safe: always (abs(x) <= 1)`")
        return A.SpecFile(
            env_id=env[0], env_kwargs=env[1], horizon=horizon, reward_threshold=reward,
            signals=signals, consts=consts, search=search, requirements=reqs,
            source=self.source, text=self.text,
            sha256=hashlib.sha256(self.text.encode("utf-8")).hexdigest(), positions=positions,
        )

    def env_value(self, val: Any) -> bool | int | float | str:
        if isinstance(val, _Num):
            v = self.finite(val, "env argument")
            return int(v) if val.is_int else v
        if val.type == "TRUE":
            return True
        if val.type == "FALSE":
            return False
        return _unquote(str(val))


def format_num(n: _Num) -> str:
    return n.text


def _unquote(s: str) -> str:
    body = s[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            out.append({"n": "\n", "t": "\t"}.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


# ------------------------------------------------------------------ entry points
def parse(text: str, source: str = "<string>") -> A.SpecFile:
    """Parse and check spec `text`; `source` names it in error messages."""
    if not isinstance(text, str):
        raise TypeError(f"parse() takes the spec text as str, got {type(text).__name__}")
    try:
        stmts = _parser().parse(text + "\n")
    except _Deep as e:
        raise SpecError(f"formula nested too deeply (more than {MAX_DEPTH} levels)",
                        line=e.line, column=e.column, source=source, text=text,
                        hint="split it into several requirements") from None
    except _Unclosed as e:
        o = e.opener
        closer = ")" if o.type == "_LPAR" else "]"
        raise SpecError(f"'{o}' is never closed", line=o.line, column=o.column, source=source,
                        text=text, hint=f"add the missing '{closer}'") from None
    except UnexpectedEOF as e:  # pragma: no cover - LALR reports $END as UnexpectedToken
        raise SpecError("unexpected end of file", line=e.line, column=e.column,
                        source=source, text=text) from None
    except UnexpectedInput as e:
        raise _syntax_error(e, text, source) from None
    return _Checker(text, source).build(stmts)


def load(path: str | os.PathLike[str]) -> A.SpecFile:
    """Read and parse the spec file at `path` (unreadable file -> SpecError, line 0)."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise SpecError("spec file not found", source=source,
                        hint="check the path; spec files usually live in specs/") from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a spec file", source=source) from None
    except UnicodeDecodeError as e:
        raise SpecError(f"spec file is not UTF-8 text ({e.reason})", source=source) from None
    except OSError as e:
        raise SpecError(f"cannot read spec file: {e.strerror or e}", source=source) from None
    return parse(text, source)
