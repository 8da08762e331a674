"""Taylor integration of continuous-time dynamics over affine sets (zonotopes), with a
Lagrange remainder on an a-priori box.

Over a substep of length h, with the action held, the flow from x0 is
    x(h) = sum_{k <= K} x_k(x0) h^k + x_{K+1}(x(s)) h^(K+1)   for some s in [0, h],
where x_k(y) is the k-th Taylor coefficient of the solution through y (the k-th time
derivative over k!). The coefficients come from the declared field itself, evaluated on
truncated Taylor series in time (`Jet`, automatic differentiation: each coefficient of
f(x(t)) needs those of x up to the same order). The polynomial part is evaluated in
affine arithmetic on the set's affine forms (`sanp.reach.affine`), so a linear flow keeps
its correlations; the remainder is evaluated in interval arithmetic on a box B holding
x(s) for every s in [0, h] (found as in `sanp.reach.integrate`), so the bound holds over
the reals. After each substep the rounding and remainder terms become new generators
and the zonotope's order is reduced (`sanp.reach.zonotope`).

The jets run the field's code with `JET_OPS`: + - * / with numbers, the set's values and
jets, sin, cos, square; any other operation raises a ReachError (use box sets then).

Example:
    >>> step = TaylorIntegrator(ToraDynamics(), order=4, substeps=16)
    >>> c, G = step.period(c, G)      # rows: the 4 states, then the action (held)
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from sanp.envs.dynamics import Dynamics
from sanp.reach import affine as af
from sanp.reach import zonotope as zn
from sanp.reach.integrate import Integrator
from sanp.reach.interval import INTERVAL_OPS, Interval
from sanp.reach.spec import ReachError


def _is_zero(x: Any) -> bool:
    return isinstance(x, (int, float)) and x == 0


def _add(a: Any, b: Any) -> Any:
    return b if _is_zero(a) else (a if _is_zero(b) else a + b)


def _mul(a: Any, b: Any) -> Any:
    return 0.0 if _is_zero(a) or _is_zero(b) else a * b


class Jet:
    """A truncated Taylor series in time, its coefficients values of one arithmetic
    (affine forms, intervals or numbers); `bops` is that arithmetic's ops namespace."""

    __array_priority__ = 200
    _defer = True
    _set_valued = True

    def __init__(self, coeffs: list, bops: Any):
        self.a, self.bops = list(coeffs), bops

    def _lift(self, o: Any) -> list:
        return o.a if isinstance(o, Jet) else [o] + [0.0] * (len(self.a) - 1)

    def __add__(self, o: Any) -> Jet:
        return Jet([_add(x, y) for x, y in zip(self.a, self._lift(o))], self.bops)

    __radd__ = __add__

    def __neg__(self) -> Jet:
        return Jet([0.0 if _is_zero(x) else -x for x in self.a], self.bops)

    def __sub__(self, o: Any) -> Jet:
        return self + (-o if isinstance(o, Jet) else Jet(self._lift(o), self.bops).__neg__())

    def __rsub__(self, o: Any) -> Jet:
        return (-self) + o

    def __mul__(self, o: Any) -> Jet:
        b = self._lift(o)
        out = []
        for k in range(len(self.a)):
            acc: Any = 0.0
            for j in range(k + 1):
                acc = _add(acc, _mul(self.a[j], b[k - j]))
            out.append(acc)
        return Jet(out, self.bops)

    __rmul__ = __mul__

    def __truediv__(self, o: Any) -> Jet:
        if not isinstance(o, Jet):
            return Jet([0.0 if _is_zero(x) else x / o for x in self.a], self.bops)
        q: list = []
        for k in range(len(self.a)):  # q_k = (a_k - sum_{j>=1} b_j q_{k-j}) / b_0
            acc = self.a[k]
            for j in range(1, k + 1):
                p = _mul(o.a[j], q[k - j])
                acc = acc if _is_zero(p) else _add(acc, -p)
            q.append(0.0 if _is_zero(acc) else acc / o.a[0])
        return Jet(q, self.bops)

    def __rtruediv__(self, o: Any) -> Jet:
        return Jet(self._lift(o), self.bops) / self

    def __pow__(self, k: int) -> Jet:
        if k != 2:
            raise ValueError("jets take ** 2 only")
        return self * self


def _sin_cos(x: Jet) -> tuple[Jet, Jet]:
    """s_k = (1/k) sum_j j x_j c_{k-j}, c_k = -(1/k) sum_j j x_j s_{k-j}."""
    b = x.bops
    s, c = [b.sin(x.a[0])], [b.cos(x.a[0])]
    for k in range(1, len(x.a)):
        sk: Any = 0.0
        ck: Any = 0.0
        for j in range(1, k + 1):
            xj = _mul(x.a[j], float(j))
            sk = _add(sk, _mul(xj, c[k - j]))
            ck = _add(ck, _mul(xj, s[k - j]))
        s.append(0.0 if _is_zero(sk) else sk / float(k))
        c.append(0.0 if _is_zero(ck) else -(ck / float(k)))
    return Jet(s, b), Jet(c, b)


def _unsupported(name: str) -> Any:
    def fail(*_: Any) -> Any:
        raise ReachError(f"the Taylor integrator of zonotope sets does not take ops.{name} in a field; "
                         "run the proof with box sets (sets='box', --sets box)")
    return fail


def jet_ops(bops: Any) -> SimpleNamespace:
    """The `ops` namespace over jets whose coefficients are of `bops`' arithmetic."""
    names = ("sqrt", "abs", "minimum", "maximum", "clip", "le", "lt", "ge", "gt", "and_", "or_", "where", "f32")
    ns = SimpleNamespace(**{n: _unsupported(n) for n in names})
    ns.sin = lambda x: _sin_cos(x)[0] if isinstance(x, Jet) else bops.sin(x)
    ns.cos = lambda x: _sin_cos(x)[1] if isinstance(x, Jet) else bops.cos(x)
    ns.square = lambda x: x * x if isinstance(x, Jet) else bops.square(x)
    ns.kind = "jet"
    return ns


def coefficients(dyn: Dynamics, state: tuple, action: Any, order: int, bops: Any) -> list[list]:
    """Per state component, the Taylor coefficients x_0..x_order of the flow at `state`."""
    ops = jet_ops(bops)
    xs = [[s] for s in state]
    for k in range(order):
        jets = tuple(Jet(x + [0.0], bops) for x in xs)  # order k+1: coefficient k of f is exact
        f = dyn.field(jets, action, ops)
        for x, fi in zip(xs, f):
            fk = fi.a[k] if isinstance(fi, Jet) else (fi if k == 0 else 0.0)
            x.append(0.0 if _is_zero(fk) else fk / float(k + 1))
    return xs


class TaylorIntegrator:
    """Encloses the flow of `dyn.field` over `dyn.period` on zonotopes (c, G): `substeps`
    Taylor steps of order `order`, the substep length period / 2^j (exact in float)."""

    def __init__(self, dyn: Dynamics, order: int = 4, substeps: int | None = None, max_generators: int = 40):
        if not dyn.period or dyn.period <= 0:
            raise ReachError(f"{type(dyn).__name__} is continuous-time but declares no positive `period`")
        self.dyn, self.order, self.max_gens = dyn, int(order), int(max_generators)
        # Taylor steps are far more accurate than the float model's RK4 steps: a quarter as many
        n = int(substeps or max(1, dyn.substeps // 4))
        self.n = 1 << max(0, int(np.ceil(np.log2(max(n, 1)))))  # a power of two: period / n exact
        # (an a-priori box found with wider inflations than the interval engine's: a state
        # that is nearly a point at a fixed point of its field, ACC's gamma_lead, needs them)
        self.enclose = Integrator(dyn, substeps=self.n, tries=12, inflate=1e-9, escalate=1.5)

    def _powers(self, h: float) -> list[Interval]:
        out, p = [Interval(np.float64(1.0), np.float64(1.0))], Interval(np.float64(1.0), np.float64(1.0))
        for _ in range(self.order + 1):
            p = p * h  # outward rounded: holds h^k over the reals
            out.append(p)
        return out

    def substep(self, c: np.ndarray, G: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
        """The zonotope after h seconds. Rows d.. of (c, G) are the action, held: it is
        carried as part of the set so that the plant's states keep their dependence on
        it through every substep and every order reduction."""
        d = len(self.dyn.state_names)
        forms = zn.to_affine(c, G)
        x, u = forms[:d], forms[d:]
        box = tuple(s.interval() for s in x)
        u_iv = tuple(a.interval() for a in u)
        hh = Interval(np.float64(h), np.float64(h))
        B, ok = self.enclose.enclosures(box, u_iv, hh)
        if not np.any(ok):
            return zn.whole(c, G)
        xs = coefficients(self.dyn, x, u, self.order, af.AFFINE_OPS)
        rem = coefficients(self.dyn, B, u_iv, self.order + 1, INTERVAL_OPS)
        pw = self._powers(h)
        out = []
        for xk, rk in zip(xs, rem):
            acc = af.lift(xk[0])
            for k in range(1, self.order + 1):
                if not _is_zero(xk[k]):
                    acc = acc + af.lift(xk[k]).times_interval(pw[k])
            last = rk[self.order + 1]
            if not _is_zero(last):
                acc = acc + af.from_interval(Interval.of(last) * pw[self.order + 1])
            out.append(acc)
        c2, G2, r2 = zn.from_affine(out + list(u), G.shape[-1], n=c.shape[0])
        r2[~np.broadcast_to(ok, (c.shape[0],))] = np.inf  # no enclosure: every state (fold makes it whole)
        return zn.reduce(*zn.fold(c2, G2, r2), self.max_gens)

    def period(self, c: np.ndarray, G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The zonotope (states, then the action's rows) after one control period."""
        h = float(self.dyn.period or 0.0) / self.n
        for _ in range(self.n):
            c, G = self.substep(c, G, h)
        return c, G
