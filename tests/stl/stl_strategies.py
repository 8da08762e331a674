"""Hypothesis strategies shared by the stl tests: random ASTs over the whole grammar."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import stl
from stl import ast as A

SIGNALS = ("x", "y", "z")
CONSTS = {"c": 0.5, "k": -2.0}
HEADER = (
    "env Test-v0\n"
    "signal x = obs[0]\nsignal y = obs[1]\nsignal z = action[0]\n"
    "const c = 0.5\nconst k = -2\n"
)

numbers = st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0, 3.5, 1e-3, 10.0])
nonzero = st.sampled_from([0.25, 0.5, 2.0, 4.0])


@st.composite
def exprs(draw: st.DrawFn, depth: int = 2) -> A.Node:
    """Random arithmetic: every operator equally likely, depth at most `depth`."""
    kind = draw(st.sampled_from(["num", "sig", "const", "neg", "abs", "+", "-", "*", "/"]
                                if depth > 0 else ["num", "sig", "sig", "const"]))
    if kind == "num":
        return A.Num(draw(numbers))
    if kind == "sig":
        return A.SignalRef(draw(st.sampled_from(SIGNALS)))
    if kind == "const":
        name = draw(st.sampled_from(sorted(CONSTS)))
        return A.ConstRef(name, CONSTS[name])
    if kind == "neg":
        return A.Neg(draw(exprs(depth - 1)))
    if kind == "abs":
        return A.Abs(draw(exprs(depth - 1)))
    if kind == "/":  # RTAMT raises ZeroDivisionError on x/0: divide by non-zero literals
        return A.Arith("/", draw(exprs(depth - 1)), A.Num(draw(nonzero)))
    return A.Arith(kind, draw(exprs(depth - 1)), draw(exprs(depth - 1)))


# windows from empty to much longer than the traces (lengths 2..60), and inf ends
intervals = st.one_of(
    st.none(),
    st.builds(lambda a, w: A.Interval(a, a + w), st.integers(0, 6), st.integers(0, 12)),
    st.builds(lambda a, w: A.Interval(a, a + w), st.integers(0, 70), st.integers(0, 80)),
    st.builds(lambda a: A.Interval(a, None), st.integers(0, 65)),
)

CMP_OPS = ["<", "<=", ">", ">=", "==", "!="]
BOOL_OPS = ["and", "or", "xor", "implies", "iff"]
UNARY_T = ["always", "eventually", "historically", "once"]


FORMULA_KINDS = ["not", *BOOL_OPS, *UNARY_T, "next", "prev", "until", "since"]


@st.composite
def formulas(draw: st.DrawFn, depth: int = 4) -> A.Node:
    """Random formulas over the whole grammar; every operator equally likely."""
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        kind = draw(st.sampled_from(["cmp", "cmp", "cmp", "cmp", "true", "false"]))
        if kind == "cmp":
            return A.Compare(draw(st.sampled_from(CMP_OPS)), draw(exprs()), draw(exprs()))
        return A.BoolConst(kind == "true")
    kind = draw(st.sampled_from(FORMULA_KINDS))
    if kind == "not":
        return A.Not(draw(formulas(depth - 1)))
    if kind in BOOL_OPS:
        return A.Binary(kind, draw(formulas(depth - 1)), draw(formulas(depth - 1)))
    if kind in ("next", "prev"):
        return A.Temporal(kind, draw(formulas(depth - 1)))
    if kind in UNARY_T:
        return A.Temporal(kind, draw(formulas(depth - 1)), draw(intervals))
    return A.TemporalBinary(kind, draw(formulas(depth - 1)), draw(formulas(depth - 1)),
                            draw(intervals))


@st.composite
def traces(draw: st.DrawFn, min_len: int = 2, max_len: int = 60) -> dict[str, np.ndarray]:
    """Signals x, y, z of one shape: [T] or [N, T] with N in 1..3."""
    T = draw(st.integers(min_len, max_len))
    batch = draw(st.sampled_from([(), (1,), (2,), (3,)]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    out = {}
    for name in SIGNALS:
        if draw(st.booleans()):
            vals = rng.normal(0.0, 2.0, size=batch + (T,))
        else:  # coarse values make ties (and == / != at 0) likely
            vals = rng.integers(-3, 4, size=batch + (T,)).astype(float)
        out[name] = vals
    return out


def spec_text(formula: A.Node | str, name: str = "r") -> str:
    text = formula if isinstance(formula, str) else stl.format_node(formula)
    return HEADER + f"req {name}: {text}\n"
