"""Where a requirement is decided on one trajectory, and which steps it reads.

A requirement's robustness at time 0 is built from its comparisons' values by min, max
and negation only, so it equals one comparison's value (or its negation) at one step:
`decision` walks the formula from the top, following at each operator the operand and
the step that gave its value (the minimum of an `always` over its window, the larger
side of an `or`, ...), down to that comparison and step. `read_windows` gives, for each
comparison, the steps whose values can reach time 0 at all (the window of
`always[10:200]` is steps 10-200, cut at the trace's end).

Both are computed from the spec (`stl`'s AST and robustness), so each requirement of a
counterexample is marked at its own step, inside its own window:

    >>> import numpy as np, stl
    >>> spec = stl.parse("env E\\nsignal th = obs[0]\\nreq late: always[10:200] (abs(th) <= 0.05)\\n")
    >>> th = np.zeros(40); th[2] = 0.3; th[20] = 0.08
    >>> decision(spec.requirements["late"], {"th": th}).step
    20
    >>> read_windows(spec.requirements["late"], 40)[0][1]
    ((10, 39),)
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

import stl
from stl import ast as A


@dataclass(frozen=True)
class Decision:
    """The step and comparison that give a requirement's robustness at time 0, and that
    robustness; `step` None when no comparison decides it (an empty window, `true`)."""

    step: int | None
    compare: A.Compare | None
    robustness: float


def decision(requirement: A.Requirement | A.Node, signals: Mapping[str, np.ndarray]) -> Decision:
    """Where `requirement` is decided over `signals` (1-D arrays of one length T)."""
    formula = requirement.formula if isinstance(requirement, A.Requirement) else requirement
    memo: dict[int, np.ndarray] = {}

    def rob(node: A.Node) -> np.ndarray:
        if id(node) not in memo:
            memo[id(node)] = np.asarray(stl.robustness(node, signals), dtype=float)
        return memo[id(node)]

    value = float(rob(formula)[0])
    T = len(rob(formula))
    step, compare = _witness(formula, 0, T, rob)
    return Decision(step if compare is not None else None, compare, value)


def _pick(values: np.ndarray, lowest: bool) -> int:
    """Index of the minimum (or maximum); NaN counts as the worst value, as a NaN episode
    counts as unsafe."""
    if lowest:
        return int(np.argmin(np.where(np.isnan(values), -np.inf, values)))
    return int(np.argmax(np.where(np.isnan(values), -np.inf, values)))


def _future(i: int, lo: int, hi: int | None, T: int) -> tuple[int, int]:
    return i + lo, T - 1 if hi is None else min(i + hi, T - 1)


def _past(i: int, lo: int, hi: int | None) -> tuple[int, int]:
    return 0 if hi is None else max(i - hi, 0), i - lo


def _interval(node: A.Temporal | A.TemporalBinary) -> tuple[int, int | None]:
    return (0, None) if node.interval is None else (node.interval.lo, node.interval.hi)


def _witness(node: A.Node, i: int, T: int, rob: Callable[[A.Node], np.ndarray]
             ) -> tuple[int, A.Compare | None]:
    """(step, comparison) whose value is `node`'s robustness at step i."""
    while True:
        if isinstance(node, A.Compare):
            return i, node
        if isinstance(node, A.ReqRef):
            node = node.formula
        elif isinstance(node, A.Not):
            node = node.operand
        elif isinstance(node, A.Binary):
            x, y = float(rob(node.left)[i]), float(rob(node.right)[i])
            if node.op == "and":
                node = node.left if not x > y else node.right
            elif node.op == "or":
                node = node.left if not x < y else node.right
            elif node.op == "implies":
                node = node.left if not -x < y else node.right
            else:  # iff / xor: both sides count; the left one is shown
                node = node.left
        elif isinstance(node, A.Temporal):
            if node.op in ("next", "prev"):
                i += 1 if node.op == "next" else -1
                if not 0 <= i < T:
                    return i, None
                node = node.operand
                continue
            lo, hi = _interval(node)
            a, b = _future(i, lo, hi, T) if node.op in ("always", "eventually") else _past(i, lo, hi)
            if a > b or b < 0 or a >= T:
                return i, None  # an empty window: +inf / -inf, decided by no comparison
            i = a + _pick(rob(node.operand)[a:b + 1], node.op in ("always", "historically"))
            node = node.operand
        elif isinstance(node, A.TemporalBinary):
            p, q = rob(node.left), rob(node.right)
            lo, hi = _interval(node)
            if node.op == "until":
                a, b = _future(i, lo, hi, T)
                if a > b:
                    return i, None
                # min of p over [i, t) for t = a..b
                before = np.concatenate([[np.inf], np.minimum.accumulate(p[i:b])])[a - i:b - i + 1]
                ts = np.arange(a, b + 1)
            else:  # since
                a, b = _past(i, lo, hi)
                if a > b or b < 0:
                    return i, None
                # min of p over (t, i] for t = a..b
                suffix = np.minimum.accumulate(p[a + 1:i + 1][::-1])[::-1]
                before = np.concatenate([suffix, [np.inf]])[: b - a + 1]
                ts = np.arange(a, b + 1)
            k = _pick(np.minimum(q[ts], before), lowest=False)
            t = int(ts[k])
            if not q[t] > before[k]:
                i, node = t, node.right
            else:
                span = np.arange(i, t) if node.op == "until" else np.arange(t + 1, i + 1)
                i, node = int(span[_pick(p[span], lowest=True)]), node.left
        else:  # true / false
            return i, None


def read_windows(requirement: A.Requirement | A.Node, T: int
                 ) -> list[tuple[A.Compare, tuple[tuple[int, int], ...]]]:
    """Each comparison of `requirement` (in `stl.predicates` order) with the steps of a
    T-step trace its robustness at time 0 can read, as merged (first, last) ranges."""
    formula = requirement.formula if isinstance(requirement, A.Requirement) else requirement
    spans: dict[int, list[tuple[int, int]]] = {}
    seen: set[tuple[int, int, int]] = set()
    stack: list[tuple[A.Node, int, int]] = [(formula, 0, 0)]
    while stack:
        node, lo, hi = stack.pop()
        lo, hi = max(lo, 0), min(hi, T - 1)
        if lo > hi or (id(node), lo, hi) in seen:
            continue
        seen.add((id(node), lo, hi))
        if isinstance(node, A.Compare):
            spans.setdefault(id(node), []).append((lo, hi))
        elif isinstance(node, A.Temporal):
            if node.op in ("next", "prev"):
                d = 1 if node.op == "next" else -1
                stack.append((node.operand, lo + d, hi + d))
                continue
            a, b = _interval(node)
            if node.op in ("always", "eventually"):
                stack.append((node.operand, lo + a, T - 1 if b is None else hi + b))
            else:
                stack.append((node.operand, 0 if b is None else lo - b, hi - a))
        elif isinstance(node, A.TemporalBinary):
            a, b = _interval(node)
            if node.op == "until":
                end = T - 1 if b is None else hi + b
                stack += [(node.left, lo, end), (node.right, lo + a, end)]
            else:
                start = 0 if b is None else lo - b
                stack += [(node.left, start, hi), (node.right, start, hi - a)]
        else:
            stack += [(child, lo, hi) for child in node.children()]
    out = []
    for cmp in A.compares(formula):
        merged: list[tuple[int, int]] = []
        for a, b in sorted(spans.get(id(cmp), [])):
            if merged and a <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        out.append((cmp, tuple(merged)))
    return out
