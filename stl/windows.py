"""Sliding-window min/max and until/since over time-major arrays [L, ...].

The primitives behind `stl.robustness`. Each takes its operand(s) over the first L
samples of a trace and returns the operator's values at the first `n` steps. The
evaluator guarantees that L is either the whole trace or long enough that no window
of those n steps reaches past L, so a prefix stands for the whole trace: that is how
`stl.robustness_at0` reads only the samples that time 0 depends on.

Costs (L samples, B traces): sliding windows are van Herk/Gil-Werman, O(L) whatever
the width; unbounded windows are one suffix scan, or one reduction when n = 1; bounded
until/since double the window, O(L log w); unbounded until/since solve the backward
recursion u[i] = max(r[i], min(l[i], u[i+1])) in blocks of about sqrt(L) steps, so the
Python loops run O(sqrt(L)) times, each over a whole block row (a batch of 256 traces
or more runs one step at a time instead: each step is then already a vector op, and
the blocks' temporaries would cost more than the loop). Only min, max and
copies are performed, so the results are exact.
"""
from __future__ import annotations

import numpy as np

INF = np.inf

# Below this many traces side by side, ufunc.accumulate along time beats a Python loop
# over rows (measured: a row loop costs ~1.5 us per step, accumulate ~4-6 ns per value).
_LOOP_MIN_BATCH = 256
# Recursions shorter than this run as a plain row loop.
_DIRECT_UNTIL = 64


def _ops(is_min: bool):
    return (np.minimum, INF) if is_min else (np.maximum, -INF)


def _width(x: np.ndarray) -> int:
    return int(np.prod(x.shape[1:])) if x.ndim > 1 else 1


def _scan(x: np.ndarray, is_min: bool, reverse: bool) -> np.ndarray:
    """Prefix (or, reversed, suffix) min/max along axis 0 of x [L, ...]."""
    comb, _ = _ops(is_min)
    if _width(x) < _LOOP_MIN_BATCH:
        src = x[::-1] if reverse else x
        out = comb.accumulate(src, axis=0)
        return out[::-1] if reverse else out
    out = np.empty_like(x)
    L = x.shape[0]
    if reverse:
        out[L - 1] = x[L - 1]
        for i in range(L - 2, -1, -1):
            comb(x[i], out[i + 1], out=out[i])
    else:
        out[0] = x[0]
        for i in range(1, L):
            comb(x[i], out[i - 1], out=out[i])
    return out


def _fit(x: np.ndarray, n: int, fill: float) -> np.ndarray:
    """The first n rows of x, padded with `fill` where x is shorter."""
    if x.shape[0] >= n:
        return x[:n]
    out = np.full((n,) + x.shape[1:], fill)
    out[: x.shape[0]] = x
    return out


def _sliding(x: np.ndarray, w: int, is_min: bool) -> np.ndarray:
    """y[j] = min (max) of x[j : j+w] along axis 0, windows cut at the end."""
    comb, ident = _ops(is_min)
    L = x.shape[0]
    if w <= 1:
        return x.copy()
    if w <= 16 or L <= 2048:  # a few doubling passes beat two block scans (few calls)
        s = x.copy()
        k = 1
        while 2 * k <= w:
            comb(s[: L - k], s[k:], out=s[: L - k])  # numpy buffers the overlap
            k *= 2
        if k < w:
            d = w - k
            r = s.copy()
            if d < L:
                comb(s[: L - d], s[d:], out=r[: L - d])
            return r
        return s
    # van Herk / Gil-Werman: prefix and suffix scans inside blocks of w samples; the
    # window [j, j+w-1] is the suffix of j's block joined with the prefix ending at j+w-1.
    rest = x.shape[1:]
    nblocks = -(-L // w) + 1  # one spare block of identity keeps j + w - 1 in range
    padded = np.full((nblocks * w,) + rest, ident)
    padded[:L] = x
    blocks_t = np.moveaxis(padded.reshape((nblocks, w) + rest), 1, 0)  # [w, nblocks, ...]
    prefix = np.moveaxis(_scan(blocks_t, is_min, False), 0, 1).reshape(padded.shape)
    suffix = np.moveaxis(_scan(blocks_t, is_min, True), 0, 1).reshape(padded.shape)
    return comb(suffix[:L], prefix[w - 1: w - 1 + L])


def _suffix_from(x: np.ndarray, a: int, n: int, is_min: bool) -> np.ndarray:
    """min (max) of x[a + i:] for i < n (identity where a + i is past the end)."""
    comb, ident = _ops(is_min)
    L = x.shape[0]
    if a + n >= L:
        return _fit(_scan(x[a:], is_min, True), n, ident)
    head = x[a: a + n].copy()
    comb(head[-1], comb.reduce(x[a + n:], axis=0), out=head[-1])
    return _scan(head, is_min, True)


def window_future(x: np.ndarray, a: int, b: int | None, is_min: bool, n: int) -> np.ndarray:
    """At i < n: min (max) of x over [i+a, min(i+b, L-1)]; +inf (-inf) where empty."""
    comb, ident = _ops(is_min)
    L = x.shape[0]
    if a >= L:
        return np.full((n,) + x.shape[1:], ident)
    if n == 1:
        hi = L - 1 if b is None else min(b, L - 1)
        return comb.reduce(x[a: hi + 1], axis=0, keepdims=True)
    if b is None or b >= L - 1:
        return _suffix_from(x, a, n, is_min)
    # the windows of steps < n lie inside x[a : n + b]
    return _fit(_sliding(x[a: min(L, n + b)], b - a + 1, is_min), n, ident)


def window_past(x: np.ndarray, a: int, b: int | None, is_min: bool, n: int) -> np.ndarray:
    """At i < n: min (max) of x over [max(i-b, 0), i-a]; +inf (-inf) where empty."""
    x = x[:n]  # steps < n look back only
    _, ident = _ops(is_min)
    if a >= n:
        return np.full(x.shape, ident)
    if b is None or b >= n - 1:  # back to the start: a prefix scan, shifted by a
        return np.concatenate([np.full((a,) + x.shape[1:], ident),
                               _scan(x[: n - a], is_min, False)])
    return window_future(x[::-1], a, b, is_min, n)[::-1]


# ------------------------------------------------------------------ until / since
def _until_loop(left: np.ndarray, right: np.ndarray, after: np.ndarray) -> np.ndarray:
    """u[i] = max(right[i], min(left[i], u[i+1])) with u[m] = `after`, one row at a time."""
    m = left.shape[0]
    out = np.empty(np.broadcast_shapes(left.shape, right.shape))
    nxt = after
    for i in range(m - 1, -1, -1):
        np.minimum(left[i], nxt, out=out[i])
        np.maximum(right[i], out[i], out=out[i])
        nxt = out[i]
    return out


def _until_recursion(left: np.ndarray, right: np.ndarray, after: np.ndarray) -> np.ndarray:
    """`_until_loop`'s values, with O(sqrt(m)) Python steps instead of m.

    Split the steps into nb blocks of s. Inside each block, A[k] is the recursion
    started from -inf at the block's end and Bm[k] the min of left from k to the end;
    then u[k] = max(A[k], min(Bm[k], u at the next block's start)), and the values at
    block starts follow the same recursion over the nb blocks (solved recursively).
    """
    m = left.shape[0]
    if m <= _DIRECT_UNTIL or _width(left) >= _LOOP_MIN_BATCH:
        return _until_loop(left, right, after)  # a wide batch: each step is vectorised
    s = int(np.ceil(np.sqrt(m)))
    nb = -(-m // s)
    pad = nb * s - m  # padded in front: the recursion runs backwards, so it never reads them
    rest = left.shape[1:]

    def blocks(x: np.ndarray) -> np.ndarray:
        padded = np.concatenate([np.zeros((pad,) + rest), x]) if pad else x
        return np.moveaxis(padded.reshape((nb, s) + rest), 1, 0)  # [s, nb, ...]

    lb, rb = blocks(left), blocks(right)
    A = _until_loop(lb, rb, np.full((nb,) + rest, -INF))
    Bm = _scan(lb, True, True)
    starts = _until_recursion(Bm[0], A[0], after)
    after_block = np.concatenate([starts[1:], after[None]])  # u at the next block's start
    np.minimum(Bm, after_block[None], out=Bm)
    np.maximum(A, Bm, out=A)
    return np.moveaxis(A, 0, 1).reshape((nb * s,) + rest)[pad:]


def _until_unbounded(left: np.ndarray, right: np.ndarray, m: int) -> np.ndarray:
    """The first m values of `left until right` (window [0, inf)) over L samples."""
    L = left.shape[0]
    if m >= L:
        return _fit(_until_recursion(left, right, np.full(left.shape[1:], -INF)), m, -INF)
    # u[m] in one pass: max over t >= m of min(right[t], min left[m..t-1])
    held = _scan(left[m: L - 1], True, False)
    cand = right[m:].copy()
    np.minimum(cand[1:], held, out=cand[1:])
    return _until_recursion(left[:m], right[:m], cand.max(axis=0))


def _until_doubling(left: np.ndarray, right: np.ndarray, width: int) -> np.ndarray:
    """U_w(k) = max over t in [k, k+w-1] of min(right[t], min left[k..t-1]), windows cut.

    With M_w(k) = min left[k..k+w-1]: U_{m+n}(k) = max(U_m(k), min(M_m(k), U_n(k+m))).
    """
    L = left.shape[0]
    Up, Mp, p = right.copy(), left.copy(), 1
    res_U = res_M = None
    res_w = 0
    rem = width
    while True:
        if rem & 1:
            if res_U is None:
                res_U, res_M, res_w = Up.copy(), Mp.copy(), p
            elif res_w < L:
                k = L - res_w
                np.maximum(res_U[:k], np.minimum(res_M[:k], Up[res_w:]), out=res_U[:k])
                np.minimum(res_M[:k], Mp[res_w:], out=res_M[:k])
                res_w += p
        rem >>= 1
        if not rem:
            return res_U
        if p < L:
            k = L - p
            np.maximum(Up[:k], np.minimum(Mp[:k], Up[p:]), out=Up[:k])
            np.minimum(Mp[:k], Mp[p:], out=Mp[:k])
        p *= 2


def until_future(left: np.ndarray, right: np.ndarray, a: int, b: int | None,
                 n: int) -> np.ndarray:
    """At i < n: max over t in [i+a, min(i+b, L-1)] of min(right[t], min left[i..t-1]);
    -inf where that is empty."""
    L = left.shape[0]
    if a >= L:
        return np.full((n,) + left.shape[1:], -INF)
    if b is not None and b < L - 1:
        # the windows of steps < n lie inside [0, n + b)
        end = min(L, n + b)
        left, right, L = left[:end], right[:end], end
    hi = L - 1 if b is None else min(b, L - 1)
    if hi == L - 1:
        res_U = _until_unbounded(left, right, min(L, n + a))
    else:
        res_U = _until_doubling(left, right, hi - a + 1)
    if a == 0:
        return _fit(res_U, n, -INF)
    # phi U[a:b] psi at i = min(min left[i..i+a-1], U_[0:b-a](i+a)); -inf if i+a >= L
    head = window_future(left, 0, a - 1, True, n)
    return np.minimum(head, _fit(res_U[a:], n, -INF))


def since_past(left: np.ndarray, right: np.ndarray, a: int, b: int | None,
               n: int) -> np.ndarray:
    """At i < n: max over t in [max(i-b, 0), i-a] of min(right[t], min left[t+1..i]);
    -inf where that is empty."""
    left, right = left[:n], right[:n]  # steps < n look back only
    return until_future(left[::-1], right[::-1], a, b, n)[::-1]
