"""AST -> RTAMT specification text, and evaluation through RTAMT itself.

RTAMT 0.4.10 (discrete-time, offline) is the reference semantics that
`stl.robustness` reproduces. Its parser has traps, so the text emitted here is fully
parenthesised and spaced, and the few constructs RTAMT lacks are rewritten into
equivalent ones it has:

* every binary operation is ``(l op r)`` with spaces (RTAMT misreads ``x/2``,
  ``x - y - 1`` and ``x / y * 2``);
* unary minus is ``(0 - e)`` (RTAMT only accepts a minus before a literal); consts are
  inlined as numbers; ``!=`` is RTAMT's ``!==``;
* ``true`` / ``false`` are ``(1e999 >= 0)`` / ``(0 >= 1e999)`` (RTAMT reads 1e999 as
  +inf, so their robustness is +inf / -inf);
* signals are renamed ``sig_NAME`` so that names like ``X``, ``s`` or ``input`` do not
  collide with RTAMT keywords;
* intervals ending in ``inf`` (RTAMT has none):
  ``always[a:inf] p`` -> ``always[a:a] (always p)`` (likewise eventually, historically,
  once), ``p until[a:inf] q`` -> ``(always[0:a-1] p) and (eventually[a:a] (p until q))``
  and ``p since[a:inf] q`` -> ``(historically[0:a-1] p) and (once[a:a] (p since q))``.
  Requirement references are inlined.

This module imports rtamt lazily: parsing specs does not need it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from stl import ast as A
from stl.errors import SignalError

TRUE_TEXT = "(1e999 >= 0)"
FALSE_TEXT = "(0 >= 1e999)"
_CMP = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "==", "!=": "!=="}


def rtamt_name(signal: str) -> str:
    """The RTAMT variable name used for a signal."""
    return f"sig_{signal}"


def _num(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"cannot write non-finite number {value!r} for RTAMT")
    text = repr(float(value))
    if value < 0 or text.startswith("-"):
        return f"(0 - {-float(value)!r})"
    return text


def _iv(a: int, b: int) -> str:
    return f"[{a}:{b}]"


def to_rtamt(node: A.Node | A.Requirement) -> str:
    """RTAMT text for a requirement, formula or expression.

        >>> to_rtamt(A.Compare(">=", A.SignalRef("x"), A.Num(-2.5)))
        '(sig_x >= (0 - 2.5))'
    """
    if isinstance(node, A.Requirement):
        return to_rtamt(node.formula)
    if isinstance(node, A.Num):
        return _num(node.value)
    if isinstance(node, A.ConstRef):
        return _num(node.value)
    if isinstance(node, A.SignalRef):
        return rtamt_name(node.name)
    if isinstance(node, A.BoolConst):
        return TRUE_TEXT if node.value else FALSE_TEXT
    if isinstance(node, A.ReqRef):
        return to_rtamt(node.formula)
    if isinstance(node, A.Neg):
        return f"(0 - {to_rtamt(node.operand)})"
    if isinstance(node, A.Abs):
        return f"abs({to_rtamt(node.operand)})"
    if isinstance(node, A.Arith):
        return f"({to_rtamt(node.left)} {node.op} {to_rtamt(node.right)})"
    if isinstance(node, A.Compare):
        return f"({to_rtamt(node.left)} {_CMP[node.op]} {to_rtamt(node.right)})"
    if isinstance(node, A.Not):
        return f"(not {to_rtamt(node.operand)})"
    if isinstance(node, A.Binary):
        return f"({to_rtamt(node.left)} {node.op} {to_rtamt(node.right)})"
    if isinstance(node, A.Temporal):
        p = to_rtamt(node.operand)
        op = node.op
        if op in ("next", "prev"):
            return f"({op} {p})"
        iv = node.interval
        if iv is None or (iv.lo == 0 and iv.hi is None):
            return f"({op} {p})"
        if iv.hi is None:
            return f"({op}{_iv(iv.lo, iv.lo)} ({op} {p}))"
        return f"({op}{_iv(iv.lo, iv.hi)} {p})"
    if isinstance(node, A.TemporalBinary):
        lt, rt = to_rtamt(node.left), to_rtamt(node.right)
        binop = node.op
        iv = node.interval
        if iv is None or (iv.lo == 0 and iv.hi is None):
            return f"({lt} {binop} {rt})"
        if iv.hi is None:
            hold, shift = ("always", "eventually") if binop == "until" else ("historically", "once")
            return (f"(({hold}{_iv(0, iv.lo - 1)} {lt}) and "
                    f"({shift}{_iv(iv.lo, iv.lo)} ({lt} {binop} {rt})))")
        return f"({lt} {binop}{_iv(iv.lo, iv.hi)} {rt})"
    raise TypeError(f"not an AST node: {node!r}")


def _formula_of(requirement: A.Requirement | A.Node) -> A.Node:
    return requirement.formula if isinstance(requirement, A.Requirement) else requirement


def rtamt_robustness(requirement: A.Requirement | A.Node,
                     signals: Mapping[str, object]) -> np.ndarray:
    """Robustness signal computed by RTAMT itself (the reference), shape [T] or [N, T].

    Loops over the N traces; every trace is handed to RTAMT as fresh lists (RTAMT appends
    to its input lists on short traces). RTAMT refuses 1-sample traces: SignalError.
    """
    return rtamt_evaluate(requirement, signals)[0]


def rtamt_evaluate(requirement: A.Requirement | A.Node,
                   signals: Mapping[str, object]) -> tuple[np.ndarray, bool]:
    """Like `rtamt_robustness`, and also whether any sub-formula came out NaN in RTAMT.

    RTAMT computes inf - inf = NaN for `xor`, `iff` and `==`/`!=` on infinite operands,
    and its Python min/max then pass NaN on or drop it depending on argument order;
    the batched evaluator defines those cases instead (see `stl.robustness`).
    """
    import rtamt

    formula = _formula_of(requirement)
    names = sorted(A.signal_names(formula))
    missing = [n for n in names if n not in signals]
    if missing:
        raise SignalError(f"missing signal(s): {', '.join(missing)}")
    arrays = {n: np.asarray(signals[n], dtype=np.float64) for n in names}
    if arrays:
        shape = next(iter(arrays.values())).shape
    elif signals:
        shape = np.asarray(next(iter(signals.values()))).shape
    else:
        raise SignalError("no signals given: cannot tell the trace length")
    if any(a.shape != shape for a in arrays.values()) or len(shape) not in (1, 2):
        raise SignalError("signals must all have the same shape [T] or [N, T]")
    T = shape[-1]
    if T < 2:
        raise SignalError("RTAMT cannot evaluate traces of length 1")

    spec = rtamt.StlDiscreteTimeOfflineSpecification()
    spec.declare_var("unused__t", "float")
    for n in names:
        spec.declare_var(rtamt_name(n), "float")
    spec.spec = to_rtamt(formula)
    spec.parse()

    flat = {n: a.reshape(-1, T) for n, a in arrays.items()}
    count = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
    out = np.empty((count, T))
    tainted = False
    for k in range(count):
        data: dict[str, list[float]] = {"time": list(range(T)), "unused__t": [0.0] * T}
        for n in names:
            data[rtamt_name(n)] = [float(v) for v in flat[n][k]]
        spec.ast.offline_results = {}
        result = spec.evaluate(data)
        out[k] = [v for _, v in result]
        for key, vals in spec.ast.offline_results.items():
            if key != "time" and any(math.isnan(v) for v in vals):
                tainted = True
    return out.reshape(shape), tainted
