"""A property as a verifier query, and the same property judged at a point in float32.

`build_query` writes the negation of a property's conclusion as a closed violation
condition over the (product) network's outputs. `judge` evaluates the property at
observations through onnxruntime, as the policy is deployed: a verifier's real-valued
counterexample can sit on a tie, and a tie counts as what onnxruntime says.

Example:
    >>> q = build_query(prop, policy, reference)
    >>> judge(prop, obs32, policy_actor, reference_actor).holds
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sanp.prove.network import from_policy
from sanp.prove.properties import ActionBound, ActionIs, Agrees, Linear, Op, OutputBound, Property
from sanp.prove.verifier import Query

Conj = tuple[Linear, ...]


def _ge(terms: dict[int, float], rhs: float = 0.0) -> Linear:
    return Linear(tuple(terms.items()), ">=", rhs)


def _argmax_is(k: int, n: int, off: int) -> Conj:
    """Outputs off..off+n-1 have their (closed) maximum at k."""
    return tuple(_ge({off + k: 1.0, off + m: -1.0}) for m in range(n) if m != k)


def violation(prop: Property, n: int) -> tuple[Conj, ...]:
    """The closed negation of `prop.conclusion` over outputs [policy (n), reference (n)]."""
    c = prop.conclusion
    if isinstance(c, ActionIs):
        if c.equal:  # some other output reaches output k
            return tuple((_ge({j: 1.0, c.action: -1.0}),) for j in range(n) if j != c.action)
        return (_argmax_is(c.action, n, 0),)
    if isinstance(c, (ActionBound, OutputBound)):
        op: Op = ">=" if c.op in ("<=", "<") else "<="
        return ((Linear(((c.index, 1.0),), op, c.bound),),)
    if isinstance(c, Agrees):
        if c.eps is None:  # the reference picks k, the policy reaches k with another output
            return tuple(
                _argmax_is(k, n, n) + (_ge({j: 1.0, k: -1.0}),)
                for k in range(n) for j in range(n) if j != k
            )
        return tuple(
            (_ge({i: s, n + i: -s}, c.eps),) for i in range(n) for s in (1.0, -1.0)
        )
    raise TypeError(f"unknown conclusion {c!r}")


def build_query(prop: Property, policy, reference=None) -> Query:
    """The query whose "unsat" proves `prop` for `policy` (an MLPPolicy) over its region."""
    clip = isinstance(prop.conclusion, (ActionBound, Agrees))
    nets = [from_policy(policy, prop.region, clip_actions=clip)]
    if isinstance(prop.conclusion, Agrees):
        nets.append(from_policy(reference, prop.region, clip_actions=True))
    return Query(tuple(nets), prop.region, prop.assumptions, violation(prop, policy.out_dim))


@dataclass(frozen=True)
class Judgement:
    """The property at one observation, computed by onnxruntime in float32."""

    obs: tuple[float, ...]
    in_scope: bool
    """The observation lies in the region and meets every assumption."""
    holds: bool
    """The conclusion holds (or the observation is out of scope)."""
    margin: float
    """How far the conclusion is from failing (negative: by how much it fails)."""
    values: tuple[float, ...]
    reference_values: tuple[float, ...] | None


def _actions(values: np.ndarray, actor) -> np.ndarray:
    if actor.action_kind == "discrete":
        return values
    lo = -np.inf if actor.action_low is None else actor.action_low
    hi = np.inf if actor.action_high is None else actor.action_high
    return np.clip(values, lo, hi)


def _first_argmax_margin(y: np.ndarray, k: np.ndarray) -> np.ndarray:
    """y[n, k[n]] minus the largest other output of row n."""
    rows = np.arange(len(y))
    others = y.copy()
    others[rows, k] = -np.inf
    return y[rows, k] - others.max(axis=1)


def _conclusion(prop: Property, y: np.ndarray, r: np.ndarray | None, actor) -> tuple[np.ndarray, np.ndarray]:
    """(holds, margin) per row of outputs `y` (and reference outputs `r`)."""
    c = prop.conclusion
    if isinstance(c, ActionIs):
        margin = _first_argmax_margin(y, np.full(len(y), c.action))
        chosen = np.argmax(y, axis=1) == c.action
        return (chosen if c.equal else ~chosen), (margin if c.equal else -margin)
    if isinstance(c, (ActionBound, OutputBound)):
        v = (_actions(y, actor) if isinstance(c, ActionBound) else y)[:, c.index]
        ok = {"<=": v <= c.bound, "<": v < c.bound, ">=": v >= c.bound, ">": v > c.bound}[c.op]
        return ok, (c.bound - v) if c.op in ("<=", "<") else (v - c.bound)
    if isinstance(c, Agrees):
        if r is None:
            raise TypeError(f"{prop.name}: an 'agrees' property is judged against the reference's outputs")
        if c.eps is None:
            k = np.argmax(r, axis=1)
            return np.argmax(y, axis=1) == k, _first_argmax_margin(y, k)
        gap = np.max(np.abs(_actions(y, actor) - _actions(r, actor)), axis=1)
        return gap <= c.eps, c.eps - gap
    raise TypeError(f"unknown conclusion {c!r}")


Judged = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]
"""What `judge_batch` returns: in_scope, holds, margin, values, reference values."""


def judge_batch(prop: Property, obs: np.ndarray, actor, reference=None) -> Judged:
    """(in_scope, holds, margin, values, reference values) for float32 observations [N, d]."""
    x = np.ascontiguousarray(obs, np.float32).reshape(-1, prop.region.dim)
    y = np.asarray(actor.values(x), np.float64)
    r = None if reference is None else np.asarray(reference.values(x), np.float64)
    x64 = x.astype(np.float64)
    in_scope = np.all((x64 >= prop.region.lo_array) & (x64 <= prop.region.hi_array), axis=1)
    for a in prop.assumptions:
        in_scope &= a.holds(x64)
    holds, margin = _conclusion(prop, y, r, actor)
    return in_scope, holds | ~in_scope, np.asarray(margin, np.float64), y, r


def judge(prop: Property, obs: np.ndarray, actor, reference=None) -> Judgement:
    """Judge `prop` at one float32 observation with onnxruntime actors (`OrtPolicy`)."""
    return _pick(prop, np.asarray(obs, np.float32).reshape(1, -1), judge_batch(prop, obs, actor, reference), 0)


def _pick(prop: Property, x: np.ndarray, judged: Judged, i: int) -> Judgement:
    in_scope, holds, margin, y, r = judged
    return Judgement(tuple(float(v) for v in x[i].astype(np.float64)), bool(in_scope[i]), bool(holds[i]),
                     float(margin[i]), tuple(float(v) for v in y[i]),
                     None if r is None else tuple(float(v) for v in r[i]))


def worst_violation(prop: Property, obs: np.ndarray, actor, reference=None) -> Judgement | None:
    """The in-scope observation among `obs` [N, d] (float32) that violates `prop` by the
    largest margin, or None when none does."""
    judged = judge_batch(prop, obs, actor, reference)
    bad = np.flatnonzero(~judged[1])
    if not len(bad):
        return None
    return _pick(prop, np.asarray(obs, np.float32), judged, int(bad[np.argmin(judged[2][bad])]))


def float32_inside(point: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """`point` as float32, clipped into [lo, hi] and rounded towards the inside."""
    p = np.clip(np.asarray(point, np.float64), lo, hi)
    x = p.astype(np.float32)
    x = np.where(x.astype(np.float64) < lo, np.nextafter(x, np.float32(np.inf)), x)
    x = np.where(x.astype(np.float64) > hi, np.nextafter(x, np.float32(-np.inf)), x)
    return x.astype(np.float32)
