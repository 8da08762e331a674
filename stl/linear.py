"""Linear forms of a prop's comparisons, for a verifier to take as constraints.

    >>> import stl
    >>> spec = stl.parse("env E\\nsignal x = obs[0]\\nsignal y = obs[1]\\nconst k = 2\\n"
    ...                  "region b: x in [0, 1]\\nprop p over b: k * x - y / 4 <= 1 implies "
    ...                  "output[1] - output[0] >= 0.5\\n")
    >>> p = spec.properties["p"]
    >>> stl.linear_constraint(p.assumptions[0])
    ({'x': 2.0, 'y': -0.25}, '<=', 1.0)
    >>> stl.linear_constraint(p.conclusion)
    ({'output[1]': 1.0, 'output[0]': -1.0}, '>=', 0.5)
"""
from __future__ import annotations

from stl import ast as A
from stl.printer import format_node

LinearForm = tuple[dict[str, float], float]
"""(coefficient per variable, constant): sum(c * v) + constant."""


def linear_form(expr: A.Node) -> LinearForm:
    """`expr` as coefficients over its variables plus a constant. Variables are signal
    names and the texts `action`, `action[i]`, `output[i]`; consts are inlined.
    Raises ValueError where `expr` is not linear (the checker refuses those in props)."""
    if isinstance(expr, (A.Num, A.ConstRef)):
        return {}, float(expr.value)
    if isinstance(expr, (A.SignalRef, A.ActionRef, A.OutputRef)):
        key = expr.name if isinstance(expr, A.SignalRef) else format_node(expr)
        return {key: 1.0}, 0.0
    if isinstance(expr, A.Neg):
        return _scale(linear_form(expr.operand), -1.0)
    if isinstance(expr, A.Abs):
        coeffs, const = linear_form(expr.operand)
        if not coeffs:
            return {}, abs(const)
    elif isinstance(expr, A.Arith):
        left, right = linear_form(expr.left), linear_form(expr.right)
        if expr.op in "+-":
            return _add(left, _scale(right, 1.0 if expr.op == "+" else -1.0))
        if expr.op == "*" and not (left[0] and right[0]):
            return _scale(right, left[1]) if not left[0] else _scale(left, right[1])
        if expr.op == "/" and not right[0]:
            return _scale(left, 1.0 / right[1])
    raise ValueError(f"`{format_node(expr)}` is not linear")


def linear_constraint(cmp: A.Compare) -> tuple[dict[str, float], str, float]:
    """`left op right` as `sum(c * v) op bound` with every variable on the left."""
    coeffs, const = _add(linear_form(cmp.left), _scale(linear_form(cmp.right), -1.0))
    return {k: c for k, c in coeffs.items() if c != 0.0}, cmp.op, 0.0 - const


def _scale(form: LinearForm, k: float) -> LinearForm:
    return {v: c * k for v, c in form[0].items()}, form[1] * k


def _add(a: LinearForm, b: LinearForm) -> LinearForm:
    coeffs = dict(a[0])
    for v, c in b[0].items():
        coeffs[v] = coeffs.get(v, 0.0) + c
    return coeffs, a[1] + b[1]
