"""Batched numpy robustness with RTAMT 0.4.10's discrete-time offline semantics.

Every function works on arrays of shape [..., T] (a batch of traces along the leading
axes, time last) and returns the robustness signal of the same shape. Semantics, for a
trace of length T (indices outside [0, T) do not exist):

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

Cost: sliding-window min/max is van Herk/Gil-Werman (O(T) whatever the window), the
unbounded operators are prefix/suffix accumulations, and bounded until/since use a
doubling scheme in O(T log w) (RTAMT's is O(T w^2)). Only min, max, negation and the
arithmetic of the formula itself are performed, so the results equal RTAMT's exactly.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from stl import ast as A
from stl.errors import SignalError

INF = np.inf


# ------------------------------------------------------------------ window primitives
def _shift_left(x: np.ndarray, k: int, fill: float) -> np.ndarray:
    """y[..., i] = x[..., i + k], `fill` where i + k >= T."""
    T = x.shape[-1]
    if k <= 0:
        return x
    out = np.full_like(x, fill)
    if k < T:
        out[..., : T - k] = x[..., k:]
    return out


def _sliding(x: np.ndarray, w: int, is_min: bool) -> np.ndarray:
    """y[..., j] = min (max) of x[..., j : j+w], windows cut at the end (van Herk/Gil-Werman)."""
    if w <= 1:
        return x.copy()
    ident = INF if is_min else -INF
    acc = np.minimum.accumulate if is_min else np.maximum.accumulate
    comb = np.minimum if is_min else np.maximum
    lead = x.shape[:-1]
    T = x.shape[-1]
    nblocks = -(-T // w) + 1  # one spare block of identity so j + w - 1 is always valid
    padded = np.full(lead + (nblocks * w,), ident)
    padded[..., :T] = x
    blocks = padded.reshape(lead + (nblocks, w))
    prefix = acc(blocks, axis=-1).reshape(lead + (nblocks * w,))
    suffix = np.flip(acc(np.flip(blocks, -1), axis=-1), -1).reshape(lead + (nblocks * w,))
    return comb(suffix[..., :T], prefix[..., w - 1 : w - 1 + T])


def window_future(x: np.ndarray, a: int, b: int | None, is_min: bool) -> np.ndarray:
    """min (max) of x over [i+a, min(i+b, T-1)]; +inf (-inf) where empty."""
    T = x.shape[-1]
    ident = INF if is_min else -INF
    if a >= T:
        return np.full_like(x, ident)
    if b is None or b >= T - 1:
        acc = np.minimum.accumulate if is_min else np.maximum.accumulate
        suffix = np.flip(acc(np.flip(x, -1), axis=-1), -1)
        return _shift_left(suffix, a, ident)
    return _shift_left(_sliding(x, b - a + 1, is_min), a, ident)


def window_past(x: np.ndarray, a: int, b: int | None, is_min: bool) -> np.ndarray:
    """min (max) of x over [max(i-b, 0), i-a]; +inf (-inf) where empty."""
    return np.flip(window_future(np.flip(x, -1), a, b, is_min), -1)


def until_future(left: np.ndarray, right: np.ndarray, a: int, b: int | None) -> np.ndarray:
    """max over t in [i+a, min(i+b, T-1)] of min(right[t], min left[i..t-1]); -inf if empty.

    Doubling: with U_w(k) = max over t in [k, k+w-1] of min(right[t], min left[k..t-1]) and
    M_w(k) = min left[k..k+w-1], U_{m+n}(k) = max(U_m(k), min(M_m(k), U_n(k+m))).
    """
    T = left.shape[-1]
    if a >= T:
        return np.full_like(left, -INF)
    hi = T - 1 if b is None else min(b, T - 1)
    width = hi - a + 1  # number of candidate t for each i (before cutting at the end)
    # base blocks of power-of-two width p: Up = U_p, Mp = M_p (cut at the end).
    Up, Mp, p = right, left, 1
    res_U: np.ndarray | None = None
    res_M: np.ndarray | None = None
    res_w = 0
    rem = width
    while True:
        if rem & 1:
            if res_U is None:
                res_U, res_M, res_w = Up, Mp, p
            else:
                res_U = np.maximum(res_U, np.minimum(res_M, _shift_left(Up, res_w, -INF)))
                res_M = np.minimum(res_M, _shift_left(Mp, res_w, INF))
                res_w += p
        rem >>= 1
        if not rem:
            break
        Up = np.maximum(Up, np.minimum(Mp, _shift_left(Up, p, -INF)))
        Mp = np.minimum(Mp, _shift_left(Mp, p, INF))
        p *= 2
    assert res_U is not None
    if a == 0:
        return res_U
    # phi U[a:b] psi at i = min(min left[i..i+a-1], U_[0:b-a](i+a)); -inf if i+a >= T
    head = window_future(left, 0, a - 1, True)
    return np.minimum(head, _shift_left(res_U, a, -INF))


def since_past(left: np.ndarray, right: np.ndarray, a: int, b: int | None) -> np.ndarray:
    """max over t in [max(i-b, 0), i-a] of min(right[t], min left[t+1..i]); -inf if empty."""
    return np.flip(until_future(np.flip(left, -1), np.flip(right, -1), a, b), -1)


# ------------------------------------------------------------------ evaluation
def _check_signals(node: A.Node, signals: Mapping[str, object]) -> tuple[dict, tuple]:
    needed = A.signal_names(node)
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


def evaluate(node: A.Node, signals: Mapping[str, object]) -> np.ndarray:
    """Robustness (formula) or value (expression) of `node` over `signals`, shape [..., T]."""
    arrays, shape = _check_signals(node, signals)
    memo: dict[int, np.ndarray] = {}
    with np.errstate(all="ignore"):
        out = _eval(node, arrays, shape, memo)
    return np.array(np.broadcast_to(out, shape), dtype=np.float64)


def _eval(node: A.Node, sig: dict, shape: tuple, memo: dict) -> np.ndarray:
    key = id(node)
    hit = memo.get(key)
    if hit is not None:
        return hit
    out = _eval_node(node, sig, shape, memo)
    memo[key] = out
    return out


def _xor_abs(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    d = np.abs(p - q)
    same_inf = np.isinf(p) & (p == q)
    return np.where(same_inf, 0.0, d)


def _eval_node(node: A.Node, sig: dict, shape: tuple, memo: dict) -> np.ndarray:
    ev = _eval
    if isinstance(node, A.Num):
        return np.full(shape, node.value)
    if isinstance(node, A.ConstRef):
        return np.full(shape, node.value)
    if isinstance(node, A.SignalRef):
        return sig[node.name]
    if isinstance(node, A.BoolConst):
        return np.full(shape, INF if node.value else -INF)
    if isinstance(node, A.ReqRef):
        return ev(node.formula, sig, shape, memo)
    if isinstance(node, A.Neg):
        return -ev(node.operand, sig, shape, memo)
    if isinstance(node, A.Abs):
        return np.abs(ev(node.operand, sig, shape, memo))
    if isinstance(node, A.Not):
        return -ev(node.operand, sig, shape, memo)
    if isinstance(node, (A.Arith, A.Compare, A.Binary, A.TemporalBinary)):
        x = ev(node.left, sig, shape, memo)
        y = ev(node.right, sig, shape, memo)
        op = node.op
        if isinstance(node, A.Arith):
            return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[op](x, y)
        if isinstance(node, A.Compare):
            if op in ("<", "<="):
                return y - x
            if op in (">", ">="):
                return x - y
            if op == "==":
                return -np.abs(x - y)
            return np.abs(x - y)
        if isinstance(node, A.Binary):
            if op == "and":
                return np.minimum(x, y)
            if op == "or":
                return np.maximum(x, y)
            if op == "implies":
                return np.maximum(-x, y)
            if op == "xor":
                return _xor_abs(x, y)
            return -_xor_abs(x, y)  # iff
        lo, hi = (0, None) if node.interval is None else (node.interval.lo, node.interval.hi)
        if op == "until":
            return until_future(x, y, lo, hi)
        return since_past(x, y, lo, hi)
    if isinstance(node, A.Temporal):
        x = ev(node.operand, sig, shape, memo)
        op = node.op
        if op == "next":
            return window_future(x, 1, 1, True)
        if op == "prev":
            return window_past(x, 1, 1, True)
        lo, hi = (0, None) if node.interval is None else (node.interval.lo, node.interval.hi)
        if op == "always":
            return window_future(x, lo, hi, True)
        if op == "eventually":
            return window_future(x, lo, hi, False)
        if op == "historically":
            return window_past(x, lo, hi, True)
        return window_past(x, lo, hi, False)  # once
    raise TypeError(f"not an AST node: {node!r}")
