"""The Lark transformer that builds AST nodes while the LALR parser runs.

Names stay unresolved here (every name is a `SignalRef`); intervals and numbers stay
raw (`RawNum`, tokens) so that `stl.checker` can report bad values at their position.
The transformer refuses formulas nested more than `MAX_DEPTH` operators deep, so
later recursive passes stay far from Python's recursion limit.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lark import Token, Transformer, v_args

from stl import ast as A

MAX_DEPTH = 200
"""Deepest allowed nesting of operators in one formula (requirement references count)."""

STATEMENT_KEYWORDS = ("env", "horizon", "reset_seed", "reward", "signal", "const", "search", "req",
                      "region", "prop", "disturb")
FORMULA_KEYWORDS = (
    "true", "false", "abs", "not", "and", "or", "xor", "implies", "iff", "always",
    "eventually", "historically", "once", "until", "since", "next", "prev",
)
RESERVED = frozenset(
    STATEMENT_KEYWORDS + FORMULA_KEYWORDS
    + ("obs", "action", "output", "over", "visited", "agrees", "within", "in", "inf",
       "G", "F", "H", "O", "U", "S")
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


class Deep(Exception):
    """Raised when a formula nests deeper than MAX_DEPTH while parsing."""

    def __init__(self, line: int, column: int) -> None:
        super().__init__(line, column)
        self.line, self.column = line, column


@dataclass(frozen=True)
class RawNum:
    """A number token, kept raw until the checker knows what it is for."""

    value: float
    is_int: bool
    tok: Token
    text: str


def pos(x: Any) -> dict[str, int]:
    """Keyword arguments `line`, `column` of a token, raw number or node."""
    if isinstance(x, Token):
        return {"line": x.line, "column": x.column}
    if isinstance(x, RawNum):
        return {"line": x.tok.line, "column": x.tok.column}
    return {"line": x.line, "column": x.column}


def _depth(*nodes: Any) -> int:
    return 1 + max((getattr(n, "_depth", 1) for n in nodes), default=0)


def _mk(cls: type, at: Any, *args: Any, kids: tuple = ()) -> A.Node:
    node = cls(*args, **pos(at))
    d = _depth(*kids)
    if d > MAX_DEPTH:
        raise Deep(node.line, node.column)
    object.__setattr__(node, "_depth", d)
    return node


@v_args(inline=True)
class Builder(Transformer):
    """Builds AST nodes during the LALR parse; names stay unresolved (`SignalRef`)."""

    # ---- numbers
    def signed_number(self, *args: Token) -> RawNum:
        minus = len(args) == 2
        tok = args[-1]
        value = float(tok)
        is_int = not any(c in tok for c in ".eE")
        return RawNum(-value if minus else value, is_int, args[0], ("-" if minus else "") + tok)

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

    def action_ref(self, tok: Token) -> A.Node:
        return _mk(A.ActionRef, tok, None)

    def action_index_ref(self, tok: Token, idx: RawNum) -> A.Node:
        node = _mk(A.ActionRef, tok, None)
        object.__setattr__(node, "_raw_index", idx)  # checked (whole, >= 0) by the checker
        return node

    def output_ref(self, tok: Token, idx: RawNum) -> A.Node:
        node = _mk(A.OutputRef, tok, 0)
        object.__setattr__(node, "_raw_index", idx)
        return node

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

    def horizon_stmt(self, kw: Token, n: RawNum) -> tuple:
        return ("horizon", kw, n)

    def reset_seed_stmt(self, kw: Token, n: RawNum) -> tuple:
        return ("reset_seed", kw, n)

    def reward_stmt(self, kw: Token, op: Token, n: RawNum) -> tuple:
        return ("reward", kw, op, n)

    def obs_source(self, kw: Token, idx: RawNum) -> tuple:
        return ("obs", kw, idx)

    def action_index_source(self, kw: Token, idx: RawNum) -> tuple:
        return ("action", kw, idx)

    def action_source(self, kw: Token) -> tuple:
        return ("action", kw, None)

    def reward_source(self, kw: Token) -> tuple:
        return ("reward", kw, None)

    def signal_stmt(self, kw: Token, name: Token, src: tuple) -> tuple:
        return ("signal", kw, name, src)

    def const_stmt(self, kw: Token, name: Token, n: RawNum) -> tuple:
        return ("const", kw, name, n)

    def search_stmt(self, kw: Token, name: Token, lo: RawNum, hi: RawNum) -> tuple:
        return ("search", kw, name, lo, hi)

    def disturb_stmt(self, kw: Token, name: Token, lo: RawNum, hi: RawNum, _over: Token,
                     pieces: RawNum, _word: Token) -> tuple:
        return ("disturb", kw, name, lo, hi, pieces)

    def req_stmt(self, kw: Token, name: Token, formula: A.Node) -> tuple:
        return ("req", kw, name, formula)

    def box_range(self, name: Token, lo: RawNum, hi: RawNum) -> tuple:
        return (name, lo, hi)

    def region_box(self, kw: Token, name: Token, *ranges: tuple) -> tuple:
        return ("region", kw, name, list(ranges))

    def region_visited(self, kw: Token, name: Token, visited: Token) -> tuple:
        return ("region", kw, name, None)

    def prop_formula(self, kw: Token, name: Token, _over: Token, region: Token,
                     formula: A.Node) -> tuple:
        return ("prop", kw, name, region, formula)

    def prop_agrees(self, kw: Token, name: Token, _over: Token, region: Token, agrees: Token,
                    _within: Token | None, eps: RawNum | None) -> tuple:
        return ("prop", kw, name, region, (agrees, eps))

    def start(self, *stmts: Any) -> list:
        return list(stmts)
