"""Sound integration of continuous-time dynamics over one control period, on intervals.

Over a substep of length h, the flow from a box X stays inside any box B with
X + [0, h] f(B) inside B (Picard-Lindelöf: such a B is an a-priori enclosure), and
then x(h) lies in X + h f(B) (the mean-value form of x(h) = x(0) + integral of f).
`Integrator.step` finds B by inflating a first guess until the test holds, halving h
where it does not, and chains `substeps` such steps over the period. Interval
arithmetic rounds outward, so the enclosure holds over the reals; it is first order
(its width grows with h times the spread of f), which is what a period of a few tens of
milliseconds split into `substeps` pieces needs.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from sanp.envs.dynamics import Dynamics
from sanp.reach.interval import INTERVAL_OPS, Interval
from sanp.reach.spec import ReachError


def _inside(a: Interval, b: Interval) -> np.ndarray:
    return (b.lo <= a.lo) & (a.hi <= b.hi)


class Integrator:
    """Encloses the flow of `dyn.field` over `dyn.period` seconds with the action held."""

    def __init__(self, dyn: Dynamics, substeps: int | None = None, tries: int = 8, inflate: float = 1e-12,
                 escalate: float = 1.0):
        if not dyn.period or dyn.period <= 0:
            raise ReachError(f"{type(dyn).__name__} is continuous-time but declares no positive `period`")
        self.dyn = dyn
        self.n = int(substeps or dyn.substeps)
        self.tries = tries
        self.inflate = inflate  # relative: each try widens B by 10% and by this much of its magnitude
        self.escalate = escalate  # the 10% grows by this factor each try

    def _field(self, state: tuple, action: Any) -> tuple:
        return tuple(Interval.of(c) for c in self.dyn.field(state, action, INTERVAL_OPS))

    def _substep(self, X: tuple, action: Any, h: Interval) -> tuple | None:
        """X after a step of length h (an interval holding the exact real length), or
        None when no a-priori enclosure is found."""
        B = self.enclosure(X, action, h)
        if B is None:
            return None
        return tuple(x + h * f for x, f in zip(X, self._field(B, action)))

    def enclosure(self, X: tuple, action: Any, h: Interval) -> tuple | None:
        """A box B holding the flow from X over [0, h] (X + [0, h] f(B) inside B), or None
        when `tries` inflations find none for some cell."""
        B, ok = self.enclosures(X, action, h)
        return B if np.all(ok) else None

    def enclosures(self, X: tuple, action: Any, h: Interval) -> tuple[tuple, np.ndarray]:
        """Per cell: a box B holding the flow from X over [0, h], and whether it was found
        (where not, B is not an enclosure)."""
        span = Interval(np.zeros(1), h.hi)
        f0 = self._field(X, action)
        B = tuple(Interval(np.minimum(x.lo, (x + span * f).lo), np.maximum(x.hi, (x + span * f).hi))
                  for x, f in zip(X, f0))
        ok: Any = False
        need: list[Any] = [True] * len(B)  # per component: widen it (it did not hold its flow)
        for k in range(self.tries):
            w = 0.1 * self.escalate**k
            grow = tuple(Interval(np.where(n, b.lo - w * b.width - self.inflate * (1 + np.abs(b.lo)), b.lo),
                                  np.where(n, b.hi + w * b.width + self.inflate * (1 + np.abs(b.hi)), b.hi))
                         for b, n in zip(B, need))
            fB = self._field(grow, action)
            cand = tuple(x + span * f for x, f in zip(X, fB))
            need = [~_inside(c, g) for c, g in zip(cand, grow)]
            now: Any = True
            for n in need:
                now = now & ~n
            keep = np.asarray(ok)  # cells found before keep their enclosure
            B = tuple(Interval(np.where(keep, b.lo, np.where(now, g.lo, np.minimum(g.lo, c.lo))),
                               np.where(keep, b.hi, np.where(now, g.hi, np.maximum(g.hi, c.hi))))
                      for b, g, c in zip(B, grow, cand))
            ok = keep | now
            if np.all(ok):
                break
        return B, np.asarray(ok)

    def _flow(self, X: tuple, action: Any, h: Interval, depth: int) -> tuple:
        out = self._substep(X, action, h)
        if out is not None:
            return out
        if depth >= 12:  # no enclosure even for tiny steps: the whole line, soundly
            return tuple(Interval(np.full_like(x.lo, -np.inf), np.full_like(x.hi, np.inf)) for x in X)
        half = Interval(h.lo / 2, h.hi / 2)  # exact: halving a float is exact
        return self._flow(self._flow(X, action, half, depth + 1), action, half, depth + 1)

    def step(self, state: tuple, action: Any) -> tuple:
        """The state box after one control period: `substeps` steps of period / n each,
        the step length an interval holding the exact real quotient, so that the steps
        add up to the period over the reals."""
        X = tuple(Interval.of(c) for c in state)
        q = np.float64(self.dyn.period) / self.n
        h = Interval(np.nextafter(q, -np.inf) * np.ones(1), np.nextafter(q, np.inf) * np.ones(1))
        for _ in range(self.n):
            X = self._flow(X, action, h, 0)
        return X
