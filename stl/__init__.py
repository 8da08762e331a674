"""A small Signal Temporal Logic language with RTAMT semantics.

    >>> import stl
    >>> spec = stl.parse(open("specs/cartpole.stl").read(), "specs/cartpole.stl")  # doctest: +SKIP
    >>> spec.requirements["angle"].robustness({"theta": traces})[..., 0]          # doctest: +SKIP

`stl` never imports sanp, torch or gymnasium.
"""
from stl.ast import Predicate, Requirement, Signal, SpecFile
from stl.errors import SignalError, SpecError, StlError
from stl.parser import MAX_DEPTH, load, parse
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
    "load",
    "parse",
    "rtamt_robustness",
    "to_rtamt",
]
