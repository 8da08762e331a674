"""A spec's requirements over interval traces, in three-valued logic.

Each signal is an `Interval` of shape [N, T+1] (N cells, times 0..T). A comparison is
certainly true where its interval sides cannot violate it, possibly true where they
can meet it; `not`, `and`, `or` and the temporal operators follow Kleene's logic, with
RTAMT's finite-trace semantics (a window cut at the trace's end; an empty window is
true for `always`, false for `eventually`). A requirement is proved for a cell when it
is certainly true at time 0, refuted when it is certainly false.

`shape` sorts a requirement for the engine: `always[a:b] P` and `eventually[a:b] P`
with P free of temporal operators are checked step by step (so that a hopeless cell
stops early, and so that an env's termination is accounted for); any other future-time
formula is evaluated on the whole tube at the end.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

import stl.ast as A
from sanp.errors import SanpError
from sanp.reach import interval as iv
from sanp.reach.interval import Interval, Tri


class ReachError(SanpError):
    """Raised when a closed-loop proof cannot be set up: an unsupported requirement,
    an env without dynamics, a policy the engine cannot bound."""


@dataclass(frozen=True)
class Shape:
    """`kind` is "always", "eventually" (a window over P, P without temporal operators)
    or "general"; `window` is (a, b) with b None for an open end."""

    kind: str
    body: A.Node
    window: tuple[int, int | None] = (0, None)


def _unwrap(node: A.Node) -> A.Node:
    while isinstance(node, A.ReqRef):
        node = node.formula
    return node


def has_temporal(node: A.Node) -> bool:
    node = _unwrap(node)
    if isinstance(node, (A.Temporal, A.TemporalBinary)):
        return True
    return any(has_temporal(c) for c in node.children()) if hasattr(node, "children") else False


def shape(formula: A.Node) -> Shape:
    node = _unwrap(formula)
    if isinstance(node, A.Temporal) and node.op in ("always", "eventually") and not has_temporal(node.operand):
        window = (0, None) if node.interval is None else (node.interval.lo, node.interval.hi)
        return Shape(node.op, node.operand, window)
    return Shape("general", node)


def check_supported(name: str, formula: A.Node, signals: Mapping[str, object]) -> None:
    """ReachError naming the first construct a closed-loop proof does not take."""
    node = _unwrap(formula)
    if isinstance(node, A.TemporalBinary) or (isinstance(node, A.Temporal) and node.op not in ("always", "eventually")):
        op = node.op
        raise ReachError(f"requirement {name}: `{op}` is not supported by closed-loop proofs; they take "
                         "always, eventually, and/or/not and comparisons of signals")
    if isinstance(node, (A.ActionRef, A.OutputRef)):
        raise ReachError(f"requirement {name}: action/output references belong to one-step properties")
    if isinstance(node, A.SignalRef) and node.name not in signals:
        raise ReachError(f"requirement {name}: signal {node.name} is not available to closed-loop proofs "
                         "(they read obs[i] and action signals, not reward)")
    for c in node.children() if hasattr(node, "children") else ():
        check_supported(name, c, signals)


# ---------------------------------------------------------------- expressions


def expr(node: A.Node, signals: Mapping[str, Interval]) -> Interval:
    node = _unwrap(node)
    if isinstance(node, A.Num):
        return Interval.of(np.float64(node.value))
    if isinstance(node, A.ConstRef):
        return Interval.of(np.float64(node.value))
    if isinstance(node, A.SignalRef):
        return signals[node.name]
    if isinstance(node, A.Neg):
        return -expr(node.operand, signals)
    if isinstance(node, A.Abs):
        return iv.INTERVAL_OPS.abs(expr(node.operand, signals))
    if isinstance(node, A.Arith):
        a, b = expr(node.left, signals), expr(node.right, signals)
        return {"+": a.__add__, "-": a.__sub__, "*": a.__mul__, "/": a.__truediv__}[node.op](b)
    raise ReachError(f"closed-loop proofs cannot evaluate {type(node).__name__} in an expression")


def compare(node: A.Compare, signals: Mapping[str, Interval]) -> Tri:
    a, b = expr(node.left, signals), expr(node.right, signals)
    if node.op == "<=":
        return iv.le(a, b)
    if node.op == "<":
        return iv.lt(a, b)
    if node.op == ">=":
        return iv.ge(a, b)
    if node.op == ">":
        return iv.gt(a, b)
    # a == b surely holds only for equal points; surely fails where the intervals are apart
    apart = (a.hi < b.lo) | (b.hi < a.lo)
    same = (a.lo == a.hi) & (b.lo == b.hi) & (a.lo == b.lo)
    eq = Tri(np.broadcast_to(same, apart.shape), ~apart)
    return eq if node.op == "==" else negate(eq)


def negate(p: Tri) -> Tri:
    return Tri(~p.may, ~p.must)


def _binary(op: str, p: Tri, q: Tri) -> Tri:
    if op == "and":
        return iv.and_(p, q)
    if op == "or":
        return iv.or_(p, q)
    if op == "implies":
        return iv.or_(negate(p), q)
    if op == "iff":
        return iv.or_(iv.and_(p, q), iv.and_(negate(p), negate(q)))
    return iv.or_(iv.and_(p, negate(q)), iv.and_(negate(p), q))  # xor


def _window(x: np.ndarray, a: int, b: int | None, fn: str, empty: bool) -> np.ndarray:
    """fn ('all' / 'any') of x[:, t+a : t+b+1] for every t (cut at the end)."""
    n, T1 = x.shape
    out = np.full((n, T1), empty)
    for t in range(T1):
        lo = t + a
        hi = T1 if b is None else min(T1, t + b + 1)
        if lo < hi:
            out[:, t] = getattr(np, fn)(x[:, lo:hi], axis=1)
    return out


def formula(node: A.Node, signals: Mapping[str, Interval]) -> Tri:
    """The formula's three-valued truth at every time, [N, T+1]."""
    node = _unwrap(node)
    shp = next(iter(signals.values())).lo.shape
    if isinstance(node, A.BoolConst):
        v = np.full(shp, node.value)
        return Tri(v, v)
    if isinstance(node, A.Compare):
        t = compare(node, signals)
        return Tri(np.broadcast_to(t.must, shp), np.broadcast_to(t.may, shp))
    if isinstance(node, A.Not):
        return negate(formula(node.operand, signals))
    if isinstance(node, A.Binary):
        return _binary(node.op, formula(node.left, signals), formula(node.right, signals))
    if isinstance(node, A.Temporal) and node.op in ("always", "eventually"):
        p = formula(node.operand, signals)
        a, b = (0, None) if node.interval is None else (node.interval.lo, node.interval.hi)
        fn, empty = ("all", True) if node.op == "always" else ("any", False)
        return Tri(_window(p.must, a, b, fn, empty), _window(p.may, a, b, fn, empty))
    raise ReachError(f"closed-loop proofs do not evaluate {type(node).__name__}")
