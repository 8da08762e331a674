"""The comparison atoms of a requirement, with both sides ready to evaluate.

A report lists a requirement's comparisons and draws each side over a trajectory:

    >>> import numpy as np, stl
    >>> spec = stl.parse("env E\\nsignal x = obs[0]\\nconst lim = 2\\n"
    ...                  "req r: always (abs(x) <= lim)\\n")
    >>> [p] = stl.predicates(spec.requirements["r"])
    >>> p.text, p.left_text, p.op, p.right_text
    ('abs(x) <= lim', 'abs(x)', '<=', 'lim')
    >>> stl.evaluate_expr(p.right, {"x": np.zeros(3)})
    array([2., 2., 2.])
"""
from __future__ import annotations

from stl import ast as A
from stl.printer import format_node


def predicates(target: A.Requirement | A.Node) -> list[A.Predicate]:
    """The comparison atoms of a requirement (or formula), in source order.

    Atoms of the requirements it references are included; an atom shared by identity
    appears once.
    """
    formula = target.formula if isinstance(target, A.Requirement) else target
    if not isinstance(formula, A.FORMULA_TYPES):
        raise TypeError(f"predicates() takes a Requirement or formula node, "
                        f"got {type(target).__name__}")
    return [A.Predicate(text=format_node(c), op=c.op, left=c.left, right=c.right,
                        left_text=format_node(c.left), right_text=format_node(c.right),
                        node=c)
            for c in A.compares(formula)]
