"""A small Signal Temporal Logic language with RTAMT semantics.

    >>> import stl
    >>> spec = stl.load("specs/cartpole.stl")                          # doctest: +SKIP
    >>> stl.robustness_at0(spec.requirements["angle"], {"theta": traces})     # doctest: +SKIP

The AST (`stl.ast`) is data; parsing, printing and evaluation are functions over it.
`stl` never imports sanp, torch or gymnasium.
"""
from stl.ast import Predicate, Requirement, Signal, SpecFile
from stl.errors import SignalError, SpecError, StlError
from stl.parser import MAX_DEPTH, load, parse
from stl.linear import linear_constraint, linear_form
from stl.predicates import predicates
from stl.printer import format_node, to_text
from stl.robustness import evaluate_expr, robustness, robustness_at0
from stl.rtamt_backend import rtamt_robustness, to_rtamt

__all__ = [
    "MAX_DEPTH",
    "Predicate",
    "Requirement",
    "Signal",
    "SignalError",
    "SpecError",
    "SpecFile",
    "StlError",
    "evaluate_expr",
    "format_node",
    "linear_constraint",
    "linear_form",
    "load",
    "parse",
    "predicates",
    "robustness",
    "robustness_at0",
    "rtamt_robustness",
    "to_rtamt",
    "to_text",
]
