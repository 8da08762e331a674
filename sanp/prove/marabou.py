"""Marabou behind sanp's `Verifier` interface: the only module that imports maraboupy.

A `Query` becomes one Marabou input query built through maraboupy's Python API (no
ONNX round trip): one variable per input, per unit before and after its ReLU; one
equation per unit holding only its non-zero weights, so a pruned network gives short
equations and few ReLUs. Several networks share the input variables (the product
network of a differential property). A one-disjunct violation is added as plain
inequalities, more than one as a Marabou disjunction constraint.

Example:
    >>> MarabouVerifier().find_violation(query, timeout=10).status
    'unsat'
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np

from sanp.prove.network import PLNet
from sanp.prove.properties import Linear
from sanp.prove.verifier import Query, QueryResult

_EXIT = {"sat": "sat", "unsat": "unsat", "TIMEOUT": "timeout"}


def _maraboupy() -> tuple[Any, Any, Any]:
    with warnings.catch_warnings():  # its TensorFlow parser is optional and warns when absent
        warnings.simplefilter("ignore")
        from maraboupy import Marabou, MarabouCore, MarabouUtils
        from maraboupy.MarabouNetwork import MarabouNetwork
    return Marabou, MarabouCore, (MarabouUtils, MarabouNetwork)


class MarabouVerifier:
    """Marabou 2.0 (maraboupy) as a `Verifier`."""

    name = "marabou"

    def find_violation(self, query: Query, timeout: float) -> QueryResult:
        Marabou, _core, _ = _maraboupy()
        start = time.perf_counter()
        net, x = self._build(query)
        # Marabou's timeout is a whole number of seconds (0 means none).
        options = Marabou.createOptions(verbosity=0, timeoutInSeconds=max(1, math.ceil(timeout)))
        try:
            code, vals, _stats = net.solve(options=options, verbose=False)
        except Exception as exc:  # noqa: BLE001 - a verifier failure is an "unknown", not a crash
            return QueryResult("error", None, time.perf_counter() - start, f"marabou: {exc}")
        seconds = time.perf_counter() - start
        status = _EXIT.get(code, "error")
        if status == "sat":
            return QueryResult("sat", tuple(float(vals[v]) for v in x), seconds)
        return QueryResult(status, None, seconds, "" if status != "error" else f"marabou exit code {code!r}")

    def _build(self, query: Query) -> tuple[Any, list[int]]:
        _, MarabouCore, (MarabouUtils, MarabouNetwork) = _maraboupy()
        net = MarabouNetwork()
        x = [net.getNewVariable() for _ in range(query.box.dim)]
        net.inputVars = [np.array(x)]
        for v, lo, hi in zip(x, query.box.lo, query.box.hi):
            net.setLowerBound(v, lo)
            net.setUpperBound(v, hi)
        outputs: list[int] = []
        for pl in query.nets:
            outputs += _add_net(net, pl, x)
        net.outputVars = [np.array(outputs)]
        for a in query.assumptions:
            for eq in _equations(a, x, MarabouUtils, MarabouCore):
                net.addEquation(eq)
        if len(query.violation) == 1:
            for c in query.violation[0]:
                for eq in _equations(c, outputs, MarabouUtils, MarabouCore):
                    net.addEquation(eq)
        else:
            net.addDisjunctionConstraint([
                [eq for c in conj for eq in _equations(c, outputs, MarabouUtils, MarabouCore)]
                for conj in query.violation
            ])
        return net, x


def _add_net(net: Any, pl: PLNet, inputs: list[int]) -> list[int]:
    cur = inputs
    for layer in pl.layers:
        nxt = []
        for r in range(layer.W.shape[0]):
            pre = net.getNewVariable()
            nz = np.flatnonzero(layer.W[r])
            net.addEquality([cur[j] for j in nz] + [pre], [float(layer.W[r, j]) for j in nz] + [-1.0],
                            -float(layer.b[r]))
            if layer.relu[r]:
                post = net.getNewVariable()
                net.addRelu(pre, post)
                nxt.append(post)
            else:
                nxt.append(pre)
        cur = nxt
    return cur


def _equations(c: Linear, variables: list[int], MarabouUtils: Any, MarabouCore: Any) -> list[Any]:
    """Marabou equations for `c` over `variables` (strict comparisons are closed: the
    verifier works over the reals, the caller re-checks its points)."""
    kinds = {"<=": [MarabouCore.Equation.LE], "<": [MarabouCore.Equation.LE],
             ">=": [MarabouCore.Equation.GE], ">": [MarabouCore.Equation.GE],
             "==": [MarabouCore.Equation.EQ]}[c.op]
    out = []
    for kind in kinds:
        eq = MarabouUtils.Equation(kind)
        for i, coeff in c.terms:
            eq.addAddend(coeff, variables[i])
        eq.setScalar(c.rhs)
        out.append(eq)
    return out
