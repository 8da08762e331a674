"""Intervals over many cells at once, with outward rounding: the set view of `ops`.

An `Interval` holds `lo` and `hi` float64 arrays of one shape (one entry per cell).
Every operation returns an interval that contains the exact real result for every pair
of reals in its operands: + - * / are IEEE correctly rounded, so moving the computed
bound one ulp outward (`numpy.nextafter`) covers the exact value; sin, cos and sqrt
are widened by 4 ulp, more than the 1-2 ulp error of the C library's functions that
numpy calls. Division by an interval holding 0 gives the whole real line.

`INTERVAL_OPS` is the `ops` namespace of `sanp.envs.dynamics` for intervals; its
conditions are three-valued (`Tri`: certainly true / possibly true), and `where` takes
the union of both branches where the condition is undecided.

Example:
    >>> x = Interval(np.array([0.0]), np.array([0.1]))
    >>> y = INTERVAL_OPS.sin(x) * 2.0 + 1.0          # [1, 1 + 2 sin 0.1], rounded outward
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

_INF = np.inf


def _down(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x, -_INF)


def _up(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x, _INF)


def _ulps(x: np.ndarray, k: int) -> np.ndarray:
    return k * np.spacing(np.abs(x))


class Interval:
    """[lo, hi] per cell; arithmetic with intervals, arrays or Python numbers."""

    __slots__ = ("hi", "lo")
    __array_priority__ = 100  # numpy scalars and arrays defer to our operators

    def __init__(self, lo: Any, hi: Any = None):
        self.lo = np.asarray(lo, dtype=np.float64)
        self.hi = self.lo if hi is None else np.asarray(hi, dtype=np.float64)

    @staticmethod
    def of(x: Any) -> Interval:
        return x if isinstance(x, Interval) else Interval(x, x)

    @property
    def width(self) -> np.ndarray:
        return self.hi - self.lo

    def contains(self, x: Any) -> np.ndarray:
        return (self.lo <= x) & (x <= self.hi)

    def __repr__(self) -> str:
        return f"Interval({self.lo!r}, {self.hi!r})"

    # ------------------------------------------------------------ arithmetic
    def __add__(self, other: Any) -> Interval:
        if getattr(other, "_set_valued", False):
            return NotImplemented
        o = Interval.of(other)
        return Interval(_down(self.lo + o.lo), _up(self.hi + o.hi))

    __radd__ = __add__

    def __neg__(self) -> Interval:
        return Interval(-self.hi, -self.lo)

    def __sub__(self, other: Any) -> Interval:
        if getattr(other, "_set_valued", False):
            return NotImplemented
        o = Interval.of(other)
        return Interval(_down(self.lo - o.hi), _up(self.hi - o.lo))

    def __rsub__(self, other: Any) -> Interval:
        if getattr(other, "_set_valued", False):
            return NotImplemented
        return Interval.of(other) - self

    def __mul__(self, other: Any) -> Interval:
        if getattr(other, "_set_valued", False):
            return NotImplemented
        o = Interval.of(other)
        with np.errstate(invalid="ignore"):
            p = np.stack([self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi])
        p = np.where(np.isnan(p), 0.0, p)  # 0 * inf: the product of 0 and any real is 0
        return Interval(_down(p.min(axis=0)), _up(p.max(axis=0)))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Interval:
        if getattr(other, "_set_valued", False):
            return NotImplemented
        o = Interval.of(other)
        zero = (o.lo <= 0.0) & (o.hi >= 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_lo, inv_hi = _down(1.0 / o.hi), _up(1.0 / o.lo)
        inv = Interval(np.where(zero, -_INF, inv_lo), np.where(zero, _INF, inv_hi))
        out = self * inv
        return Interval(np.where(zero, -_INF, out.lo), np.where(zero, _INF, out.hi))

    def __rtruediv__(self, other: Any) -> Interval:
        if getattr(other, "_set_valued", False):
            return NotImplemented
        return Interval.of(other) / self

    def __pow__(self, k: int) -> Interval:
        if k != 2:
            raise ValueError("intervals take ** 2 only; write other powers as products")
        return square(self)


def square(x: Any) -> Any:
    x = Interval.of(x)
    a, b = x.lo * x.lo, x.hi * x.hi
    lo = np.where((x.lo <= 0) & (x.hi >= 0), 0.0, _down(np.minimum(a, b)))
    return Interval(lo, _up(np.maximum(a, b)))


def _abs(x: Any) -> Interval:
    x = Interval.of(x)
    lo = np.where((x.lo <= 0) & (x.hi >= 0), 0.0, np.minimum(np.abs(x.lo), np.abs(x.hi)))
    return Interval(lo, np.maximum(np.abs(x.lo), np.abs(x.hi)))


def _contains_point(x: Interval, offset: float, period: float) -> np.ndarray:
    """Whether [lo, hi] may hold offset + k * period for an integer k (True when unsure:
    a wider result is still sound)."""
    k = np.ceil((x.lo - offset) / period - 1e-9)
    return k * period + offset <= x.hi + 1e-9 * (1.0 + np.abs(x.hi))


def _periodic(x: Any, fn: Any, top: float, bottom: float) -> Interval:
    """sin or cos of an interval: the endpoint values, with 1 / -1 where the interval
    holds a maximum (at `top` + 2 k pi) or a minimum (at `bottom` + 2 k pi)."""
    x = Interval.of(x)
    a, b = fn(x.lo), fn(x.hi)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    lo, hi = lo - _ulps(lo, 4) - 1e-300, hi + _ulps(hi, 4) + 1e-300
    wide = ~np.isfinite(x.lo) | ~np.isfinite(x.hi) | (x.hi - x.lo >= 2 * np.pi)
    with np.errstate(invalid="ignore"):
        hi = np.where(wide | _contains_point(x, top, 2 * np.pi), 1.0, np.minimum(hi, 1.0))
        lo = np.where(wide | _contains_point(x, bottom, 2 * np.pi), -1.0, np.maximum(lo, -1.0))
    return Interval(lo, hi)


def sin(x: Any) -> Interval:
    return _periodic(x, np.sin, np.pi / 2, -np.pi / 2)


def cos(x: Any) -> Interval:
    return _periodic(x, np.cos, 0.0, np.pi)


def sqrt(x: Any) -> Interval:
    x = Interval.of(x)
    lo = np.sqrt(np.maximum(x.lo, 0.0))
    return Interval(np.maximum(lo - _ulps(lo, 1), 0.0), np.sqrt(np.maximum(x.hi, 0.0)) * (1 + 2**-51))


def minimum(a: Any, b: Any) -> Interval:
    a, b = Interval.of(a), Interval.of(b)
    return Interval(np.minimum(a.lo, b.lo), np.minimum(a.hi, b.hi))


def maximum(a: Any, b: Any) -> Interval:
    a, b = Interval.of(a), Interval.of(b)
    return Interval(np.maximum(a.lo, b.lo), np.maximum(a.hi, b.hi))


def clip(x: Any, lo: Any, hi: Any) -> Interval:
    return minimum(maximum(x, lo), hi)


def f32(x: Any) -> Interval:
    """The value cast to float32: rounding to nearest is monotone, so the casts of the
    bounds bound the cast of every value between them (exactly, no widening)."""
    x = Interval.of(x)
    with np.errstate(over="ignore"):
        return Interval(x.lo.astype(np.float32).astype(np.float64), x.hi.astype(np.float32).astype(np.float64))


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True, eq=False)
class Tri:
    """A condition over each cell: `must` (true for every point) and `may` (for some)."""

    must: np.ndarray
    may: np.ndarray


def le(a: Any, b: Any) -> Tri:
    a, b = Interval.of(a), Interval.of(b)
    return Tri(a.hi <= b.lo, a.lo <= b.hi)


def lt(a: Any, b: Any) -> Tri:
    a, b = Interval.of(a), Interval.of(b)
    return Tri(a.hi < b.lo, a.lo < b.hi)


def ge(a: Any, b: Any) -> Tri:
    return le(b, a)


def gt(a: Any, b: Any) -> Tri:
    return lt(b, a)


def and_(p: Tri, q: Tri) -> Tri:
    return Tri(p.must & q.must, p.may & q.may)


def or_(p: Tri, q: Tri) -> Tri:
    return Tri(p.must | q.must, p.may | q.may)


def where(cond: Tri, a: Any, b: Any) -> Interval:
    """`a` where the condition surely holds, `b` where it surely fails, their union else."""
    a, b = Interval.of(a), Interval.of(b)
    lo = np.where(cond.must, a.lo, np.where(~cond.may, b.lo, np.minimum(a.lo, b.lo)))
    hi = np.where(cond.must, a.hi, np.where(~cond.may, b.hi, np.maximum(a.hi, b.hi)))
    return Interval(lo, hi)


def hull(a: Interval, b: Interval) -> Interval:
    return Interval(np.minimum(a.lo, b.lo), np.maximum(a.hi, b.hi))


INTERVAL_OPS = SimpleNamespace(
    sin=sin, cos=cos, sqrt=sqrt, square=square, abs=_abs, minimum=minimum, maximum=maximum, clip=clip,
    le=le, lt=lt, ge=ge, gt=gt, and_=and_, or_=or_, where=where, f32=f32, kind="interval",
)
"""The `ops` namespace of `sanp.envs.dynamics` over intervals."""
