"""Sliding-window min/max and until/since over time-major arrays [T, ...].

The primitives behind `stl.robustness`: sliding-window min/max is van Herk/Gil-Werman
(O(T) whatever the window), the unbounded operators are prefix/suffix accumulations,
and bounded until/since use a doubling scheme in O(T log w). Only min, max and
copies are performed, so results are exact.
"""
from __future__ import annotations

import numpy as np

INF = np.inf

# ------------------------------------------------------------------ window primitives
# Internally every signal is time-major, shape [T, B] (B = traces in the batch): the
# per-step loops below then run over contiguous rows, vectorised across the batch.
_LOOP_MIN_BATCH = 32  # below this batch size ufunc.accumulate beats a row loop


def _ops(is_min: bool):
    return (np.minimum, INF) if is_min else (np.maximum, -INF)


def _scan(x: np.ndarray, is_min: bool, reverse: bool) -> np.ndarray:
    """Prefix (or, reversed, suffix) min/max along axis 0 of x [T, ...]."""
    comb, _ = _ops(is_min)
    if x.ndim < 2 or int(np.prod(x.shape[1:])) < _LOOP_MIN_BATCH:
        src = x[::-1] if reverse else x
        out = comb.accumulate(src, axis=0)
        return out[::-1] if reverse else out
    out = np.empty_like(x)
    T = x.shape[0]
    if reverse:
        out[T - 1] = x[T - 1]
        for i in range(T - 2, -1, -1):
            comb(x[i], out[i + 1], out=out[i])
    else:
        out[0] = x[0]
        for i in range(1, T):
            comb(x[i], out[i - 1], out=out[i])
    return out


def _shift(x: np.ndarray, k: int, fill: float) -> np.ndarray:
    """y[i] = x[i + k] along axis 0, `fill` where i + k >= T."""
    if k <= 0:
        return x
    out = np.empty_like(x)
    T = x.shape[0]
    if k < T:
        out[: T - k] = x[k:]
        out[T - k:] = fill
    else:
        out[...] = fill
    return out


def _sliding(x: np.ndarray, w: int, is_min: bool) -> np.ndarray:
    """y[j] = min (max) of x[j : j+w] along axis 0, windows cut at the end."""
    comb, ident = _ops(is_min)
    T = x.shape[0]
    if w <= 1:
        return x.copy()
    if w <= 16:  # a few doubling passes beat two block scans for short windows
        s = x.copy()
        k = 1
        while 2 * k <= w:
            comb(s[: T - k], s[k:], out=s[: T - k])  # numpy buffers the overlap
            k *= 2
        if k < w:
            d = w - k
            r = s.copy()
            if d < T:
                comb(s[: T - d], s[d:], out=r[: T - d])
            return r
        return s
    # van Herk / Gil-Werman: prefix and suffix scans inside blocks of w samples; the
    # window [j, j+w-1] is the suffix of j's block joined with the prefix ending at j+w-1.
    rest = x.shape[1:]
    nblocks = -(-T // w) + 1  # one spare block of identity keeps j + w - 1 in range
    padded = np.full((nblocks * w,) + rest, ident)
    padded[:T] = x
    blocks = padded.reshape((nblocks, w) + rest)
    blocks_t = np.moveaxis(blocks, 1, 0)  # [w, nblocks, ...]: scan along the block
    prefix = np.moveaxis(_scan(blocks_t, is_min, False), 0, 1).reshape(padded.shape)
    suffix = np.moveaxis(_scan(blocks_t, is_min, True), 0, 1).reshape(padded.shape)
    return comb(suffix[:T], prefix[w - 1: w - 1 + T])


def window_future(x: np.ndarray, a: int, b: int | None, is_min: bool) -> np.ndarray:
    """min (max) of x over [i+a, min(i+b, T-1)]; +inf (-inf) where empty. x is [T, ...]."""
    T = x.shape[0]
    _, ident = _ops(is_min)
    if a >= T:
        return np.full_like(x, ident)
    if b is None or b >= T - 1:
        return _shift(_scan(x, is_min, True), a, ident)
    return _shift(_sliding(x, b - a + 1, is_min), a, ident)


def window_past(x: np.ndarray, a: int, b: int | None, is_min: bool) -> np.ndarray:
    """min (max) of x over [max(i-b, 0), i-a]; +inf (-inf) where empty. x is [T, ...]."""
    T = x.shape[0]
    _, ident = _ops(is_min)
    if a >= T:
        return np.full_like(x, ident)
    if b is None or b >= T - 1:
        return _shift(_scan(x, is_min, False)[::-1], a, ident)[::-1]
    return window_future(x[::-1], a, b, is_min)[::-1]


def _until_unbounded(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """u[i] = max(right[i], min(left[i], u[i+1])), u[T] = -inf (RTAMT's recursion)."""
    T = left.shape[0]
    out = np.empty_like(left)
    out[T - 1] = right[T - 1]
    tmp = np.empty_like(left[0])
    for i in range(T - 2, -1, -1):
        np.minimum(left[i], out[i + 1], out=tmp)
        np.maximum(right[i], tmp, out=out[i])
    return out


def until_future(left: np.ndarray, right: np.ndarray, a: int, b: int | None) -> np.ndarray:
    """max over t in [i+a, min(i+b, T-1)] of min(right[t], min left[i..t-1]); -inf if empty.

    Unbounded windows use the backward recursion (O(T)). Bounded ones use doubling
    (O(T log w)): with U_w(k) = max over t in [k, k+w-1] of min(right[t], min left[k..t-1])
    and M_w(k) = min left[k..k+w-1], U_{m+n}(k) = max(U_m(k), min(M_m(k), U_n(k+m))).
    """
    T = left.shape[0]
    if a >= T:
        return np.full_like(left, -INF)
    hi = T - 1 if b is None else min(b, T - 1)
    width = hi - a + 1
    if hi == T - 1:
        res_U = _until_unbounded(left, right)
    else:
        Up, Mp, p = right.copy(), left.copy(), 1
        res_U = res_M = None
        res_w = 0
        rem = width
        while True:
            if rem & 1:
                if res_U is None:
                    res_U, res_M, res_w = Up.copy(), Mp.copy(), p
                elif res_w < T:
                    n = T - res_w
                    tmp = np.minimum(res_M[:n], Up[res_w:])
                    np.maximum(res_U[:n], tmp, out=res_U[:n])
                    np.minimum(res_M[:n], Mp[res_w:], out=res_M[:n])
                    res_w += p
            rem >>= 1
            if not rem:
                break
            if p < T:
                n = T - p
                tmp = np.minimum(Mp[:n], Up[p:])
                np.maximum(Up[:n], tmp, out=Up[:n])
                np.minimum(Mp[:n], Mp[p:], out=Mp[:n])
            p *= 2
    if a == 0:
        return res_U
    # phi U[a:b] psi at i = min(min left[i..i+a-1], U_[0:b-a](i+a)); -inf if i+a >= T
    head = window_future(left, 0, a - 1, True)
    return np.minimum(head, _shift(res_U, a, -INF))


def since_past(left: np.ndarray, right: np.ndarray, a: int, b: int | None) -> np.ndarray:
    """max over t in [max(i-b, 0), i-a] of min(right[t], min left[t+1..i]); -inf if empty."""
    return until_future(left[::-1], right[::-1], a, b)[::-1]
