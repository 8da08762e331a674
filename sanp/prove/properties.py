"""One-step properties of a policy over a box of observations, compiled to plain data.

A `Property` says: for every observation `x` in `region` that satisfies every
`assumptions` condition, the policy's `conclusion` holds at `x`. Observations are
indexed as the network's input (`obs[i]`); signal names only label them.

Conclusions:

- `ActionIs(k)` / `ActionIs(k, equal=False)`: the chosen discrete action (argmax of the
  outputs, first index on a tie, as onnxruntime and numpy break it) is / is not k;
- `ActionBound(i, "<=", c)`: component i of the continuous action, *after* the policy's
  clipping to the action box, is <= c (or `>=`, `<`, `>`);
- `OutputBound(i, "<=", c)`: the raw network output i (a Q-value, a pre-clip action);
- `Agrees()`: the same discrete action as the reference policy; `Agrees(eps)`: every
  continuous action component within eps of the reference's (both clipped).

Example:
    >>> box = Box((0.5, -2.0, 0.05, -2.0), (2.4, 2.0, 0.2, 2.0), ("x", "x_dot", "theta", "theta_dot"))
    >>> push_right = Property("push_right", box, ActionIs(1), (Linear(((3, 1.0),), ">=", 0.5),))
    >>> push_right.text()
    'push_right: theta_dot >= 0.5 implies action == 1'
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

import numpy as np

from sanp.errors import SanpError

Op = Literal["<=", ">=", "<", ">", "=="]
OPS = ("<=", ">=", "<", ">", "==")
MAX_BOUND = float(np.finfo(np.float32).max)
"""The largest magnitude of a region bound: the policy reads float32 observations, and
within it every width and midpoint stays finite in float64."""


class PropertyError(SanpError):
    """Raised when a property is malformed or does not fit the policy it is checked on."""


def _compare(lhs: np.ndarray, op: str, rhs: float) -> np.ndarray:
    return {"<=": np.less_equal, ">=": np.greater_equal, "<": np.less, ">": np.greater,
            "==": np.equal}[op](lhs, rhs)


@dataclass(frozen=True)
class Box:
    """A box over the whole observation vector: `lo[i] <= obs[i] <= hi[i]` (finite).
    `names` optionally labels each index (signal names) for reports and plots."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "lo", tuple(float(v) for v in self.lo))
        object.__setattr__(self, "hi", tuple(float(v) for v in self.hi))
        object.__setattr__(self, "names", tuple(str(n) for n in self.names))
        if len(self.lo) != len(self.hi) or not self.lo:
            raise PropertyError(f"a box needs as many lower as upper bounds (got {len(self.lo)} and {len(self.hi)})")
        if self.names and len(self.names) != len(self.lo):
            raise PropertyError(f"{len(self.names)} names for a box of {len(self.lo)} dimensions")
        for i, (a, b) in enumerate(zip(self.lo, self.hi)):
            if not (np.isfinite(a) and np.isfinite(b)):
                raise PropertyError(f"{self.label(i)} in [{a}, {b}]: a region needs finite bounds")
            if max(abs(a), abs(b)) > MAX_BOUND:
                raise PropertyError(f"{self.label(i)} in [{a:g}, {b:g}]: a region's bounds must lie within "
                                    f"+-{MAX_BOUND:.4g} (the policy reads float32 observations)")
            if a > b:
                raise PropertyError(f"{self.label(i)} in [{a}, {b}]: the lower bound exceeds the upper")

    @classmethod
    def override(cls, base: Box, ranges: dict[int, tuple[float, float]]) -> Box:
        """`base` with the dimensions in `ranges` (index -> (lo, hi)) replaced."""
        lo, hi = list(base.lo), list(base.hi)
        for i, (a, b) in ranges.items():
            if not 0 <= i < len(lo):
                raise PropertyError(f"obs[{i}] is not an observation index (the policy has {len(lo)})")
            lo[i], hi[i] = a, b
        return cls(tuple(lo), tuple(hi), base.names)

    @property
    def dim(self) -> int:
        return len(self.lo)

    @property
    def lo_array(self) -> np.ndarray:
        return np.array(self.lo)

    @property
    def hi_array(self) -> np.ndarray:
        return np.array(self.hi)

    def label(self, i: int) -> str:
        return self.names[i] if self.names else f"obs[{i}]"

    def widths(self) -> np.ndarray:
        return self.hi_array - self.lo_array

    def volume(self) -> float:
        """Volume over the dimensions of positive width (a slice has the volume of its face)."""
        w = self.widths()
        return float(np.prod(w[w > 0])) if np.any(w > 0) else 1.0

    def fraction_of(self, outer: Box) -> float:
        """This box's volume as a fraction of `outer`'s (which holds it), computed per
        dimension so that it neither overflows nor depends on the units; a dimension
        of zero width in `outer` counts as 1."""
        w, W = self.widths(), outer.widths()
        return float(np.prod(np.where(W > 0, w / np.where(W > 0, W, 1.0), 1.0)))

    def center(self) -> np.ndarray:
        return (self.lo_array + self.hi_array) / 2

    def contains(self, x: np.ndarray | Sequence[float]) -> bool:
        x = np.asarray(x, np.float64)
        return bool(np.all(x >= self.lo_array) and np.all(x <= self.hi_array))

    def split(self, axis: int) -> tuple[Box, Box]:
        """The two halves along `axis`."""
        mid = (self.lo[axis] + self.hi[axis]) / 2
        left_hi, right_lo = list(self.hi), list(self.lo)
        left_hi[axis] = right_lo[axis] = mid
        return Box(self.lo, tuple(left_hi), self.names), Box(tuple(right_lo), self.hi, self.names)

    def text(self) -> str:
        return ", ".join(f"{self.label(i)} in [{a:.6g}, {b:.6g}]" for i, (a, b) in enumerate(zip(self.lo, self.hi)))


@dataclass(frozen=True)
class Linear:
    """`sum(coeff * v[index]) op rhs` over a vector `v` (observations in assumptions)."""

    terms: tuple[tuple[int, float], ...]
    op: Op
    rhs: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", tuple((int(i), float(c)) for i, c in self.terms))
        if self.op not in OPS:
            raise PropertyError(f"unknown comparison {self.op!r}; use one of {' '.join(OPS)}")
        if not self.terms or all(c == 0 for _, c in self.terms):
            raise PropertyError("a linear condition needs at least one non-zero coefficient")
        if not np.isfinite(self.rhs) or not all(np.isfinite(c) for _, c in self.terms):
            raise PropertyError("a linear condition needs finite coefficients and right-hand side")

    def lhs(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, np.float64)
        return cast(np.ndarray, sum(c * v[..., i] for i, c in self.terms))  # terms is never empty

    def holds(self, v: np.ndarray) -> np.ndarray:
        return _compare(self.lhs(v), self.op, self.rhs)

    def range_over(self, box: Box) -> tuple[float, float]:
        """Interval of the left-hand side over `box`."""
        lo = sum(c * (box.lo[i] if c > 0 else box.hi[i]) for i, c in self.terms)
        hi = sum(c * (box.hi[i] if c > 0 else box.lo[i]) for i, c in self.terms)
        return lo, hi

    def infeasible_on(self, box: Box) -> bool:
        """True when no point of `box` satisfies the condition."""
        lo, hi = self.range_over(box)
        return {"<=": lo > self.rhs, "<": lo >= self.rhs, ">=": hi < self.rhs, ">": hi <= self.rhs,
                "==": lo > self.rhs or hi < self.rhs}[self.op]

    def text(self, names: tuple[str, ...] = ()) -> str:
        parts = []
        for i, c in self.terms:
            name = names[i] if names else f"obs[{i}]"
            parts.append(name if c == 1 else f"-{name}" if c == -1 else f"{c:g} * {name}")
        return f"{' + '.join(parts).replace('+ -', '- ')} {self.op} {self.rhs:g}"


@dataclass(frozen=True)
class ActionIs:
    """The chosen discrete action equals `action` (or differs from it: `equal=False`)."""

    action: int
    equal: bool = True

    def text(self) -> str:
        return f"action {'==' if self.equal else '!='} {self.action}"


@dataclass(frozen=True)
class _Bound:
    index: int
    op: Literal["<=", ">=", "<", ">"]
    bound: float
    what = ""

    def text(self) -> str:
        return f"{self.what}[{self.index}] {self.op} {self.bound:g}"


@dataclass(frozen=True)
class ActionBound(_Bound):
    """Continuous action component `index`, clipped to the action box, `op` `bound`."""

    what = "action"


@dataclass(frozen=True)
class OutputBound(_Bound):
    """Raw network output `index` `op` `bound`."""

    what = "output"


@dataclass(frozen=True)
class Agrees:
    """Same discrete action as the reference (`eps` None), or every clipped continuous
    action component within `eps` of the reference's."""

    eps: float | None = None

    def text(self) -> str:
        return "agrees" if self.eps is None else f"agrees within {self.eps:g}"


Conclusion = ActionIs | ActionBound | OutputBound | Agrees


@dataclass(frozen=True)
class Property:
    """For every x in `region` satisfying all `assumptions`: `conclusion` holds at x."""

    name: str
    region: Box
    conclusion: Conclusion
    assumptions: tuple[Linear, ...] = ()
    region_name: str = field(default="", compare=False)

    def text(self) -> str:
        cond = " and ".join(a.text(self.region.names) for a in self.assumptions)
        body = f"{cond} implies {self.conclusion.text()}" if cond else self.conclusion.text()
        return f"{self.name}: {body}"

    def vacuous_on(self, box: Box) -> bool:
        """True when no point of `box` satisfies the assumptions (decided per condition)."""
        return any(a.infeasible_on(box) for a in self.assumptions)


def validate(prop: Property, *, obs_dim: int, out_dim: int, action_kind: str, has_reference: bool) -> None:
    """PropertyError unless `prop` fits a policy with these dimensions and action kind."""
    where = f"property {prop.name!r}"
    if prop.region.dim != obs_dim:
        raise PropertyError(f"{where}: region has {prop.region.dim} dimensions, the policy takes {obs_dim}")
    for a in prop.assumptions:
        bad = [i for i, _ in a.terms if not 0 <= i < obs_dim]
        if bad:
            raise PropertyError(f"{where}: obs[{bad[0]}] is not an observation index (0..{obs_dim - 1})")
    c = prop.conclusion
    if isinstance(c, ActionIs):
        if action_kind != "discrete":
            raise PropertyError(f"{where}: 'action == k' needs a discrete policy; use action[i] bounds")
        if not 0 <= c.action < out_dim:
            raise PropertyError(f"{where}: action {c.action} does not exist (the policy has {out_dim})")
    elif isinstance(c, (ActionBound, OutputBound)):
        if isinstance(c, ActionBound) and action_kind != "continuous":
            raise PropertyError(f"{where}: action[i] bounds need a continuous policy; use 'action == k'")
        if c.op not in ("<=", ">=", "<", ">"):
            raise PropertyError(f"{where}: a bound takes <=, >=, < or >, not {c.op!r}")
        if not 0 <= c.index < out_dim:
            raise PropertyError(f"{where}: index {c.index} out of range (the policy has {out_dim} outputs)")
        if not np.isfinite(c.bound):
            raise PropertyError(f"{where}: the bound must be finite")
    elif isinstance(c, Agrees):
        if not has_reference:
            raise PropertyError(f"{where}: 'agrees' compares with a reference policy; pass --reference REF.onnx")
        if (c.eps is None) != (action_kind == "discrete"):
            raise PropertyError(
                f"{where}: use 'agrees' for a discrete policy and 'agrees within EPS' for a continuous one"
            )
        if c.eps is not None and not (np.isfinite(c.eps) and c.eps >= 0):
            raise PropertyError(f"{where}: 'agrees within EPS' needs EPS >= 0")
    else:
        raise PropertyError(f"{where}: unknown conclusion {c!r}")
