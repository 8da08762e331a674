"""Batched numpy robustness with RTAMT 0.4.10's discrete-time offline semantics.

`robustness(requirement, signals)` takes signals of shape [T] or [N, T] (a batch of
traces along the leading axes, time last) and returns the robustness signal of the
same shape; `robustness_at0` returns only its first column, reading only the samples
time 0 depends on (the *support* of time 0, see `support`); `evaluate_expr(expr,
signals)` gives the value of an arithmetic expression (one side of a comparison).
Semantics, for a trace of length T (indices outside [0, T) do not exist):

* ``a <= b``, ``a < b``: b - a;  ``a >= b``, ``a > b``: a - b;  ``a == b``: -|a - b|;
  ``a != b``: |a - b|;  ``true``: +inf;  ``false``: -inf.
* ``not p``: -p;  ``and``: min;  ``or``: max;  ``p implies q``: max(-p, q);
  ``p iff q``: -|p - q|;  ``p xor q``: |p - q| (both 0 where p and q are the same
  infinity, where RTAMT would compute inf - inf = NaN).
* ``always[a:b] p`` at i: min of p over [i+a, min(i+b, T-1)]; +inf if that is empty.
  ``eventually``: the same with max and -inf. Unbounded = ``[0:inf]``.
* ``historically[a:b] p`` at i: min of p over [max(i-b, 0), i-a]; +inf if empty.
  ``once``: max, -inf.
* ``next p`` at i: p[i+1], +inf at i = T-1.  ``prev p`` at i: p[i-1], +inf at i = 0.
* ``p until[a:b] q`` at i: max over t in [i+a, min(i+b, T-1)] of
  min(q[t], min of p over [i, t)); -inf if empty.
* ``p since[a:b] q`` at i: max over t in [max(i-b, 0), i-a] of
  min(q[t], min of p over (t, i]); -inf if empty.

A length-1 trace (RTAMT refuses it) follows the same rules with T = 1.

Cost: see `stl.windows` (O(T) sliding windows, O(T log w) bounded until/since, unbounded
until/since in blocks; RTAMT's bounded until is O(T w^2)). Only min, max, negation and
the arithmetic of the formula itself are performed, so the results equal RTAMT's
exactly, on the full signal and on the support of time 0 alike.
"""
from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from stl import ast as A
from stl.errors import SignalError
from stl.windows import INF, since_past, until_future, window_future, window_past

Target = A.Requirement | A.Predicate | A.Node


def _formula(target: Target) -> A.Node:
    if isinstance(target, A.Requirement):
        return target.formula
    if isinstance(target, A.Predicate):
        return target.node
    if isinstance(target, A.FORMULA_TYPES):
        return target
    if isinstance(target, A.EXPR_TYPES):
        raise TypeError("robustness() takes a formula; use stl.evaluate_expr() for the value "
                        "of an expression")
    raise TypeError(f"robustness() takes a Requirement, Predicate or formula node, "
                    f"got {type(target).__name__}")


def robustness(target: Target, signals: Mapping[str, object]) -> np.ndarray:
    """Robustness signal of a requirement (or predicate, or formula node) over `signals`.

    `signals` maps every signal the formula uses to a float array of shape [T] or [N, T]
    (all the same shape; extra names are ignored); the result has that shape and
    `[..., 0]` is each trace's robustness.

        >>> import numpy as np, stl
        >>> spec = stl.parse("env E\\nsignal x = obs[0]\\nreq r: always (x <= 1)\\n")
        >>> stl.robustness(spec.requirements["r"], {"x": np.array([0.0, 0.5, 0.75])})
        array([0.25, 0.25, 0.25])
    """
    return evaluate(_formula(target), signals)


def robustness_at0(target: Target, signals: Mapping[str, object]) -> np.ndarray:
    """Each trace's robustness (time 0 only), shape [] for a [T] trace, [N] for [N, T].

    Equal to `robustness(target, signals)[..., 0]`, but reads only the samples time 0
    depends on: a bounded formula such as `always[0:100] eventually[0:20] p` touches
    121 samples however long the trace, an unbounded one is a reduction at its top.

        >>> import numpy as np, stl
        >>> spec = stl.parse("env E\\nsignal x = obs[0]\\nreq r: always[0:2] (x <= 1)\\n")
        >>> float(stl.robustness_at0(spec.requirements["r"], {"x": np.arange(1e5) / 4}))
        0.5
    """
    return evaluate(_formula(target), signals, steps=1)[..., 0]


def evaluate_expr(expr: A.Node, signals: Mapping[str, object]) -> np.ndarray:
    """Value of an arithmetic expression (e.g. `Predicate.left`) over `signals`.

    Consts are already inlined in the AST; the result has the signals' shape [T] or
    [N, T] even where the expression reads no signal (a constant side is broadcast).

        >>> p = stl.predicates(spec.requirements["r"])[0]      # doctest: +SKIP
        >>> stl.evaluate_expr(p.right, {"x": x})               # doctest: +SKIP
    """
    if not isinstance(expr, A.EXPR_TYPES):
        raise TypeError(f"evaluate_expr() takes an expression node, got {type(expr).__name__}")
    return evaluate(expr, signals)


# ------------------------------------------------------------------ evaluation
def _check_signals(needed: frozenset[str], signals: Mapping[str, object]
                   ) -> tuple[dict, tuple]:
    arrays: dict[str, np.ndarray] = {}
    shape: tuple | None = None
    names = sorted(needed) or sorted(signals)[:1]
    if not names:
        raise SignalError("no signals given: cannot tell the trace length")
    for name in names:
        if name not in signals:
            raise SignalError(f"missing signal '{name}' (given: {', '.join(sorted(signals))})")
        arr = np.asarray(signals[name], dtype=np.float64)
        if arr.ndim not in (1, 2):
            raise SignalError(f"signal '{name}' must have shape [T] or [N, T], got {arr.shape}")
        if arr.shape[-1] < 1:
            raise SignalError(f"signal '{name}' is empty")
        if shape is None:
            shape = arr.shape
        elif arr.shape != shape:
            raise SignalError(f"signal '{name}' has shape {arr.shape}, others have {shape}")
        arrays[name] = arr
    assert shape is not None
    return arrays, shape


def evaluate(node: A.Node, signals: Mapping[str, object], steps: int | None = None
             ) -> np.ndarray:
    """Robustness (formula) or value (expression) of any `node` at the first `steps`
    steps (all of them by default), shape [..., steps]."""
    arrays, shape = _check_signals(_cached(node, "names", lambda: A.signal_names(node)),
                                   signals)
    T = shape[-1]
    n = T if steps is None else max(1, min(steps, T))
    need, reads = _cached(node, (n, T), lambda: _support_and_reads(node, n, T))
    # time-major [L, B] internally, L = the samples the signal is read at
    sig = {k: np.ascontiguousarray(v.reshape(-1, T)[:, : reads[k]].T)
           for k, v in arrays.items() if k in reads}
    B = math.prod(shape[:-1])
    ctx = _Context(sig, need, B, {})
    with np.errstate(all="ignore"):
        out = _eval(node, ctx)
    out = np.broadcast_to(out, (n, B))
    return np.ascontiguousarray(out.T, dtype=np.float64).reshape(shape[:-1] + (n,))


# ------------------------------------------------------------------ the support
# Per formula (by identity, dropped with it): its signal names and its support for each
# (steps, T) seen, so that evaluating one formula over many traces walks it only once.
_CACHE: dict[int, tuple[weakref.ref, dict]] = {}
_PLANS_PER_FORMULA = 64


def _cached(node: A.Node, key: object, make: Callable[[], Any]) -> Any:
    entry = _CACHE.get(id(node))
    if entry is None or entry[0]() is not node:
        ref = weakref.ref(node, lambda _, k=id(node): _CACHE.pop(k, None))
        entry = _CACHE[id(node)] = (ref, {})
    plans = entry[1]
    hit = plans.get(key)
    if hit is None:
        if len(plans) >= _PLANS_PER_FORMULA:
            plans.clear()
        hit = plans[key] = make()
    return hit


def _support_and_reads(node: A.Node, n: int, T: int) -> tuple[dict[int, int], dict[str, int]]:
    reads: dict[str, int] = {}
    return support(node, n, T, reads), reads


def _demands(node: A.Node, n: int, T: int) -> list[tuple[A.Node, int]]:
    """(child, how many first samples of it steps < n of `node` read), capped at T."""
    if isinstance(node, A.Temporal):
        if node.op == "next":
            return [(node.operand, min(T, n + 1))]
        if node.op in A.PAST_OPS:
            return [(node.operand, n)]
        hi = _bounds(node)[1]
        return [(node.operand, T if hi is None else min(T, n + hi))]
    if isinstance(node, A.TemporalBinary):
        hi = _bounds(node)[1]
        d = n if node.op == "since" else T if hi is None else min(T, n + hi)
        return [(node.left, d), (node.right, d)]
    return [(c, n) for c in node.children()]


def support(node: A.Node, steps: int, T: int, reads: dict[str, int] | None = None
            ) -> dict[int, int]:
    """For every sub-node (by id): how many first samples of it the first `steps` steps
    of `node` depend on, over a trace of T samples. Bounded future operators add their
    window's end, past operators nothing, unbounded ones need the whole trace. `reads`,
    if given, receives the same per signal name."""
    need: dict[int, int] = {}
    stack = [(node, steps)]
    while stack:
        sub, n = stack.pop()
        if need.get(id(sub), 0) >= n:
            continue
        need[id(sub)] = n
        if reads is not None and isinstance(sub, A.SignalRef):
            reads[sub.name] = max(reads.get(sub.name, 0), n)
        stack.extend(_demands(sub, n, T))
    return need


# ------------------------------------------------------------------ operators
@dataclass
class _Context:
    sig: dict[str, np.ndarray]
    need: dict[int, int]
    batch: int
    memo: dict[int, np.ndarray]


def _eval(node: A.Node, ctx: _Context) -> np.ndarray:
    key = id(node)
    hit = ctx.memo.get(key)
    if hit is None:
        hit = ctx.memo[key] = _eval_node(node, ctx)
    return hit


def _first(x: np.ndarray, n: int) -> np.ndarray:
    """The first n steps of an operand (a scalar stays a scalar)."""
    return x if x.ndim == 0 else x[:n]


def _operand(node: A.Node, ctx: _Context) -> np.ndarray:
    """A temporal operator's operand as a full [L, B] array."""
    x = _eval(node, ctx)
    shape = (ctx.need[id(node)], ctx.batch)
    return x if x.shape == shape else np.broadcast_to(x, shape)


def _xor_abs(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    d = np.abs(p - q)
    same_inf = np.isinf(p) & (p == q)
    return np.where(same_inf, 0.0, d) if np.any(same_inf) else d


_ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}


def _compare(op: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if op in ("<", "<="):
        return y - x
    if op in (">", ">="):
        return x - y
    if op == "==":
        return -np.abs(x - y)
    return np.abs(x - y)


def _boolean(op: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    if op == "and":
        return np.minimum(x, y)
    if op == "or":
        return np.maximum(x, y)
    if op == "implies":
        return np.maximum(-x, y)
    if op == "xor":
        return _xor_abs(x, y)
    return -_xor_abs(x, y)  # iff


def _bounds(node: A.Temporal | A.TemporalBinary) -> tuple[int, int | None]:
    return (0, None) if node.interval is None else (node.interval.lo, node.interval.hi)


def _temporal(node: A.Temporal, x: np.ndarray, n: int) -> np.ndarray:
    op = node.op
    if op == "next":
        return window_future(x, 1, 1, True, n)
    if op == "prev":
        return window_past(x, 1, 1, True, n)
    lo, hi = _bounds(node)
    if op in ("always", "eventually"):
        return window_future(x, lo, hi, op == "always", n)
    return window_past(x, lo, hi, op == "historically", n)  # historically / once


def _eval_node(node: A.Node, ctx: _Context) -> np.ndarray:
    n = ctx.need[id(node)]
    if isinstance(node, (A.Num, A.ConstRef)):
        return np.float64(node.value)  # a scalar: broadcast where it meets signals
    if isinstance(node, A.SignalRef):
        return ctx.sig[node.name][:n]
    if isinstance(node, A.BoolConst):
        return np.float64(INF if node.value else -INF)
    if isinstance(node, A.ReqRef):
        return _first(_eval(node.formula, ctx), n)
    if isinstance(node, (A.Neg, A.Not)):
        return -_first(_eval(node.operand, ctx), n)
    if isinstance(node, A.Abs):
        return np.abs(_first(_eval(node.operand, ctx), n))
    if isinstance(node, A.Temporal):
        return _temporal(node, _operand(node.operand, ctx), n)
    if isinstance(node, (A.ActionRef, A.OutputRef, A.Agrees)):
        raise TypeError(f"`{type(node).__name__}` belongs to a prop, which `sanp prove` "
                        "checks; it has no value over signals")
    if isinstance(node, A.TemporalBinary):
        x, y = _operand(node.left, ctx), _operand(node.right, ctx)
        L = min(x.shape[0], y.shape[0])  # a shared operand may have been read further
        step = until_future if node.op == "until" else since_past
        return step(x[:L], y[:L], *_bounds(node), n)
    x = _first(_eval(node.left, ctx), n)
    y = _first(_eval(node.right, ctx), n)
    if isinstance(node, A.Arith):
        return _ARITH[node.op](x, y)
    if isinstance(node, A.Compare):
        return _compare(node.op, x, y)
    if isinstance(node, A.Binary):
        return _boolean(node.op, x, y)
    raise TypeError(f"not an AST node: {node!r}")
