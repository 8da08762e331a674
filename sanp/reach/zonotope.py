"""Zonotopes over many cells at once: `c + G e`, e in [-1, 1]^m, c [N, d], G [N, d, m].

The engine's zonotope sets (`sanp.reach.zono_engine`) are these; an operation on them
goes through affine forms (`sanp.reach.affine`), one per component sharing the columns
of G, and comes back with an error radius r [N, d] that `fold` turns into new
generators (one per component: exact, r is a radius). `reduce` keeps the number of
generators bounded (Girard's method: the generators closest to the axes, by
|g|_1 - |g|_inf, are replaced by the box holding them, which is sound and costs least
where they are nearly axis-aligned). `hull` is the interval hull, rounded outward.

Example:
    >>> c, G = box(np.array([[0.6, -0.7]]), np.array([[0.7, -0.6]]))
    >>> lo, hi = hull(c, G)
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sanp.reach.affine import Affine, up

_INF = np.inf


def box(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The boxes [lo, hi] ([N, d] each) as zonotopes, one generator per dimension that
    some cell spans."""
    c = (lo + hi) / 2
    rad = up(np.maximum(hi - c, c - lo))
    rad = np.where(hi > lo, rad, 0.0)  # a point stays a point (c is exact there)
    return c, diag(rad)[:, :, (rad > 0).any(axis=0)]


def diag(r: np.ndarray) -> np.ndarray:
    """[N, d] -> [N, d, d], r on the diagonals (exact, and no inf * 0 off them)."""
    out = np.zeros(r.shape + (r.shape[1],))
    idx = np.arange(r.shape[1])
    out[:, idx, idx] = r
    return out


def to_affine(c: np.ndarray, G: np.ndarray) -> tuple[Affine, ...]:
    return tuple(Affine(c[:, i], G[:, i, :], np.zeros(c.shape[0])) for i in range(c.shape[1]))


def from_affine(forms: Sequence[Affine], m: int, n: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Affine forms over the first m symbols back to (c, G, r) arrays."""
    n = n if n is not None else max(np.size(f.c) for f in forms)
    c = np.stack([np.broadcast_to(f.c, (n,)) for f in forms], axis=1).astype(np.float64)
    G = np.stack([np.zeros((n, m)) if f.G is None else np.broadcast_to(f.G, (n, m)) for f in forms], axis=1)
    r = np.stack([np.broadcast_to(f.r, (n,)) for f in forms], axis=1).astype(np.float64)
    return c, G, r


def fold(c: np.ndarray, G: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """c + G e + [-r, r] as a zonotope: r's components as new generators (the columns
    no cell needs are left out). Infinite radii make the cell the whole space."""
    bad = ~np.isfinite(r).all(axis=1) | ~np.isfinite(c).all(axis=1) | ~np.isfinite(G).all(axis=(1, 2))
    if bad.any():
        c, G, r = c.copy(), G.copy(), r.copy()
        c[bad], G[bad], r[bad] = 0.0, 0.0, _INF
    used = (r > 0).any(axis=0)
    extra = diag(r)[:, :, used]
    return c, np.concatenate([G, extra], axis=2)


def reduce(c: np.ndarray, G: np.ndarray, max_gens: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_gens` generators (>= the dimension): the smallest by |g|_1 - |g|_inf
    boxed into one generator per dimension."""
    n, d, m = G.shape
    if m <= max_gens:
        return c, G
    max_gens = max(max_gens, 2 * d)
    k = m - (max_gens - d)  # how many go into the box
    A = np.abs(G)
    score = A.sum(axis=1) - A.max(axis=1)
    order = np.argsort(score, axis=1, kind="stable")
    small, keep = order[:, :k], order[:, k:]
    boxed = up(np.take_along_axis(A, small[:, None, :], axis=2).sum(axis=2))
    kept = np.take_along_axis(G, keep[:, None, :], axis=2)
    return c, np.concatenate([kept, diag(boxed)], axis=2)


def hull(c: np.ndarray, G: np.ndarray, r: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The interval hull [N, d], rounded outward."""
    rad = up(np.abs(G).sum(axis=2) + (0.0 if r is None else r))
    return np.nextafter(c - rad, -_INF), np.nextafter(c + rad, _INF)


def whole(c: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every state (no enclosure found): centre 0 and infinite generators."""
    return np.zeros_like(c), np.concatenate([np.zeros_like(G), np.full(c.shape + (1,), _INF)], axis=2)


def pad(G: np.ndarray, m: int) -> np.ndarray:
    """G with zero columns appended up to m symbols."""
    if G.shape[-1] >= m:
        return G
    return np.concatenate([G, np.zeros(G.shape[:-1] + (m - G.shape[-1],))], axis=-1)
