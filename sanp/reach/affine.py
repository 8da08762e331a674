"""Affine forms over many cells at once, with a rounding-error term: the zonotope view
of `ops`.

An `Affine` is `c + G e + d` per cell: `c` [N], `G` [N, m] (m noise symbols e in
[-1, 1], shared by every affine form of one computation, so that the forms keep their
dependence on each other), and an error `d` with |d| <= `r` [N], free per form. A set of
states held as affine forms is a zonotope (plus a box): a linear map of it is exact, so
that a rotation or a contraction of the plant does not wrap it as a box does.

Linear operations are exact up to rounding; a nonlinear one (product, sin, cos, square,
reciprocal) is its first-order Taylor form at the centre plus a bound of the Lagrange
remainder over the form's range, put into `r`. Floating point: every coefficient
computed in float64 is off the real one by at most 2^-53 of its magnitude (IEEE round
to nearest), so each operation adds 2^-52 * (|c| + sum |G|) to `r` (2^-50 for products
and libm's sin/cos, whose error is below 1 ulp), and every sum of radii is rounded up
(x (1 + 2^-48) + 1e-300). Thus the real value lies in the computed form, whatever the
rounding. Non-smooth operations (abs, min, max, clip, where, sqrt) take the form's
branch where its range decides the branch, and otherwise the interval result (sound,
the dependence is lost).

`AFFINE_OPS` is the `ops` namespace of `sanp.envs.dynamics` for affine forms.

Example:
    >>> x = Affine(np.array([0.5]), np.array([[0.1, 0.0]]), np.zeros(1))   # 0.5 + 0.1 e1
    >>> y = AFFINE_OPS.sin(x) - x * 0.9                                      # still in e1
    >>> y.interval()                                                         # its range
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from sanp.reach import interval as iv
from sanp.reach.interval import Interval, Tri

U1 = 2.0**-52  # a float64 rounding, relative to the result, with slack
U4 = 2.0**-50  # products and libm's sin/cos
_INF = np.inf


def up(x: Any) -> np.ndarray:
    """A non-negative sum of radii rounded up (its float error is below (k - 1) 2^-53
    relative for k <= 32 terms)."""
    return np.asarray(x, np.float64) * (1.0 + 2.0**-48) + 1e-300


def _gsum(G: np.ndarray | None) -> Any:
    return 0.0 if G is None else np.abs(G).sum(axis=-1)


def _gadd(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a + b


def _gscale(G: np.ndarray | None, s: Any) -> np.ndarray | None:
    return None if G is None else G * np.asarray(s)[..., None]


class Affine:
    """c + G e + [-r, r] per cell; arithmetic with affine forms and numbers."""

    __slots__ = ("G", "c", "r")
    __array_priority__ = 150
    _set_valued = True  # intervals leave mixed operations to us

    def __init__(self, c: Any, G: np.ndarray | None = None, r: Any = 0.0):
        self.c = np.asarray(c, dtype=np.float64)
        self.G = G
        self.r = np.asarray(r, dtype=np.float64)

    @property
    def radius(self) -> np.ndarray:
        """A bound of |x - c| over the form."""
        return up(_gsum(self.G) + self.r)

    def interval(self) -> Interval:
        rad = self.radius
        return Interval(np.nextafter(self.c - rad, -_INF), np.nextafter(self.c + rad, _INF))

    def __repr__(self) -> str:
        return f"Affine(c={self.c!r}, G={self.G!r}, r={self.r!r})"

    # ------------------------------------------------------------ linear part
    def __add__(self, other: Any) -> Any:
        o = _maybe(other)
        if o is None:
            return NotImplemented
        c, G = self.c + o.c, _gadd(self.G, o.G)
        return Affine(c, G, up(self.r + o.r + U1 * (np.abs(c) + _gsum(G))))

    __radd__ = __add__

    def __neg__(self) -> Affine:
        return Affine(-self.c, None if self.G is None else -self.G, self.r)

    def __sub__(self, other: Any) -> Any:
        o = _maybe(other)
        return NotImplemented if o is None else self + (-o)

    def __rsub__(self, other: Any) -> Any:
        o = _maybe(other)
        return NotImplemented if o is None else o + (-self)

    def scale(self, s: Any) -> Affine:
        """self * s for real numbers s (a scalar or [N] array, exact floats)."""
        s = np.asarray(s, dtype=np.float64)
        c, G = self.c * s, _gscale(self.G, s)
        return Affine(c, G, up(np.abs(s) * self.r + U1 * (np.abs(c) + _gsum(G))))

    def times_interval(self, s: Interval) -> Affine:
        """self * s for s an interval of numbers (its midpoint times self, the rest in r)."""
        mid = (s.lo + s.hi) / 2
        rad = np.maximum(s.hi - mid, mid - s.lo) * (1 + 2.0**-50)
        out = self.scale(mid)
        return Affine(out.c, out.G, up(out.r + rad * (np.abs(self.c) + self.radius)))

    # --------------------------------------------------------- nonlinear part
    def __mul__(self, other: Any) -> Any:
        if isinstance(other, Interval):
            return self.times_interval(other)
        o = _maybe(other)
        if o is None:
            return NotImplemented
        if o.G is None and not np.any(o.r):
            return self.scale(o.c)
        if self.G is None and not np.any(self.r):
            return o.scale(self.c)
        rx, ry = self.radius, o.radius
        c = self.c * o.c
        G = _gadd(_gscale(self.G, o.c), _gscale(o.G, self.c))
        rnd = U4 * (np.abs(c) + np.abs(self.c) * _gsum(o.G) + np.abs(o.c) * _gsum(self.G))
        return Affine(c, G, up(np.abs(self.c) * o.r + np.abs(o.c) * self.r + rx * ry + rnd))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Any:
        o = _maybe(other)
        if o is None:
            return NotImplemented
        if o.G is None and not np.any(o.r):  # by numbers: each coefficient correctly rounded
            with np.errstate(divide="ignore", invalid="ignore"):
                c, G = self.c / o.c, _gscale(self.G, 1.0 / o.c)
                r = self.r / np.abs(o.c)
            rnd = U4 * (np.abs(c) + _gsum(G))
            return Affine(c, G, up(r + rnd))
        return self * reciprocal(o)

    def __rtruediv__(self, other: Any) -> Any:
        o = _maybe(other)
        return NotImplemented if o is None else o * reciprocal(self)

    def __pow__(self, k: int) -> Affine:
        if k != 2:
            raise ValueError("affine forms take ** 2 only; write other powers as products")
        return square(self)


def lift(x: Any) -> Affine:
    """x as an affine form (numbers exactly; intervals as midpoint and radius)."""
    out = _maybe(x)
    if out is None:
        raise TypeError(f"{type(x).__name__} is not a number, an interval or an affine form")
    return out


def _maybe(x: Any) -> Affine | None:
    """`lift`, or None for objects that take the operation themselves (Taylor jets)."""
    if isinstance(x, Affine):
        return x
    if getattr(x, "_defer", False):
        return None
    if isinstance(x, Interval):
        mid = (x.lo + x.hi) / 2
        with np.errstate(invalid="ignore"):
            rad = up(np.maximum(x.hi - mid, mid - x.lo))
        return Affine(np.where(np.isfinite(mid), mid, 0.0), None, np.where(np.isfinite(mid), rad, _INF))
    return Affine(np.asarray(x, dtype=np.float64))


def from_interval(x: Any) -> Affine:
    return lift(Interval.of(x))


def _linearised(x: Affine, f0: np.ndarray, slope: np.ndarray, remainder: np.ndarray) -> Affine:
    """f(x) = f0 + slope (x - c) + [-remainder, remainder], f0 and slope computed within
    U4 (absolute, values of at most 1 in magnitude or relative)."""
    G = _gscale(x.G, slope)
    rnd = U4 * (1.0 + np.abs(f0) + (1.0 + np.abs(slope)) * x.radius)
    return Affine(f0, G, up(np.abs(slope) * x.r + remainder + rnd))


def sin(x: Any) -> Any:
    x = _as_affine(x)
    if not isinstance(x, Affine):
        return iv.sin(x)
    rad = x.radius
    bound = iv._abs(iv.sin(x.interval())).hi  # |sin''| over the range
    return _linearised(x, np.sin(x.c), np.cos(x.c), up(rad * rad / 2 * bound))


def cos(x: Any) -> Any:
    x = _as_affine(x)
    if not isinstance(x, Affine):
        return iv.cos(x)
    rad = x.radius
    bound = iv._abs(iv.cos(x.interval())).hi
    return _linearised(x, np.cos(x.c), -np.sin(x.c), up(rad * rad / 2 * bound))


def square(x: Any) -> Any:
    x = _as_affine(x)
    if not isinstance(x, Affine):
        return iv.square(x)
    rad = x.radius
    half = up(rad * rad / 2)  # (x - c)^2 in [0, rad^2]: its middle into c, half of it into r
    c = x.c * x.c + half
    G = _gscale(x.G, 2.0 * x.c)
    rnd = U4 * (np.abs(c) + _gsum(G))
    return Affine(c, G, up(2.0 * np.abs(x.c) * x.r + half + rnd))


def reciprocal(x: Affine) -> Affine:
    """1 / x: 1/c - (x - c)/c^2, the remainder (x - c)^2 / |y|^3 over the range;
    the whole line where the range holds 0."""
    rng = x.interval()
    apart = (rng.lo > 0) | (rng.hi < 0)
    least = np.where(apart, np.minimum(np.abs(rng.lo), np.abs(rng.hi)), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f0, slope = 1.0 / x.c, -1.0 / (x.c * x.c)
        rem = up(x.radius**2 / least**3)
    out = _linearised(x, f0, slope, rem)
    out.r = up(out.r + U4 * np.abs(f0) * (1.0 + np.abs(slope) * x.radius))  # f0, slope relative error
    return _masked(out, apart)


def _masked(x: Affine, ok: np.ndarray) -> Affine:
    """x where ok, the whole line elsewhere."""
    if np.all(ok):
        return x
    return Affine(np.where(ok, x.c, 0.0), None if x.G is None else np.where(ok[..., None], x.G, 0.0),
                  np.where(ok, x.r, _INF))


def _as_affine(x: Any) -> Any:
    return x if isinstance(x, (Affine, Interval)) else (_maybe(x) or x)


# ------------------------------------------------------ non-smooth, by branch


def select(mask: np.ndarray, a: Affine, b: Affine) -> Affine:
    """Per cell: a where mask, b elsewhere."""
    ga, gb = a.G, b.G
    G: np.ndarray | None = None
    if ga is not None or gb is not None:
        m = int(ga.shape[-1] if ga is not None else gb.shape[-1])  # type: ignore[union-attr]
        shape = np.broadcast_shapes(np.shape(mask), a.c.shape, b.c.shape) + (m,)
        ga = np.zeros(shape) if ga is None else ga
        gb = np.zeros(shape) if gb is None else gb
        G = np.where(np.asarray(mask)[..., None], ga, gb)
    return Affine(np.where(mask, a.c, b.c), G, np.where(mask, a.r, b.r))


def _by_branch(decided_a: np.ndarray, decided_b: np.ndarray, a: Affine, b: Affine, fallback: Interval) -> Affine:
    out = select(decided_a, a, select(decided_b, b, from_interval(fallback)))
    return out


def _abs(x: Any) -> Affine:
    x = lift(x)
    rng = x.interval()
    return _by_branch(rng.lo >= 0, rng.hi <= 0, x, -x, iv._abs(rng))


def minimum(a: Any, b: Any) -> Affine:
    a, b = lift(a), lift(b)
    ia, ib = a.interval(), b.interval()
    return _by_branch(ia.hi <= ib.lo, ib.hi <= ia.lo, a, b, iv.minimum(ia, ib))


def maximum(a: Any, b: Any) -> Affine:
    a, b = lift(a), lift(b)
    ia, ib = a.interval(), b.interval()
    return _by_branch(ia.lo >= ib.hi, ib.lo >= ia.hi, a, b, iv.maximum(ia, ib))


def clip(x: Any, lo: Any, hi: Any) -> Affine:
    return minimum(maximum(x, lo), hi)


def where(cond: Tri, a: Any, b: Any) -> Affine:
    a, b = lift(a), lift(b)
    both = iv.hull(a.interval(), b.interval())
    return _by_branch(np.asarray(cond.must), ~np.asarray(cond.may), a, b, both)


def sqrt(x: Any) -> Affine:
    return from_interval(iv.sqrt(lift(x).interval()))


def f32(x: Any) -> Affine:
    """The value cast to float32: x + d with |d| <= 2^-24 |x| + 2^-150 (round to
    nearest), the whole line where |x| may reach float32's largest value."""
    x = lift(x)
    mag = np.abs(x.c) + x.radius
    out = Affine(x.c, x.G, up(x.r + mag * 2.0**-24 + 2.0**-149))
    return _masked(out, mag < 3.0e38)


def _cmp(fn: Any) -> Any:
    return lambda a, b: fn(_iv(a), _iv(b))


def _iv(x: Any) -> Any:
    return x.interval() if isinstance(x, Affine) else x


AFFINE_OPS = SimpleNamespace(
    sin=sin, cos=cos, sqrt=sqrt, square=square, abs=_abs, minimum=minimum, maximum=maximum, clip=clip,
    le=_cmp(iv.le), lt=_cmp(iv.lt), ge=_cmp(iv.ge), gt=_cmp(iv.gt), and_=iv.and_, or_=iv.or_, where=where,
    f32=f32, kind="affine",
)
"""The `ops` namespace of `sanp.envs.dynamics` over affine forms."""
