"""Marabou behind sanp's `Verifier` interface: the only module that imports maraboupy.

Each query runs in a forked child process that the parent kills when it overruns its
timeout: Marabou does not always stop at its own timeout (seen on small product networks
with clipped outputs), and it ignores SIGTERM while it searches.

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
import os
import pickle
import select
import shutil
import signal
import tempfile
import time
import warnings
from typing import Any

import numpy as np

from sanp.extras import require
from sanp.prove.network import PLNet
from sanp.prove.properties import Linear
from sanp.prove.verifier import Query, QueryResult, Status

_EXIT: dict[str, Status] = {"sat": "sat", "unsat": "unsat", "TIMEOUT": "timeout"}
GRACE = 1.0
"""Seconds past its timeout after which a Marabou child is killed (Marabou counts whole
seconds: a child given 2.5 s stops itself at 3 s at the earliest)."""


def _maraboupy() -> tuple[Any, Any, Any]:
    with warnings.catch_warnings():  # its TensorFlow parser is optional and warns when absent
        warnings.simplefilter("ignore")
        from maraboupy import Marabou, MarabouCore, MarabouUtils
        from maraboupy.MarabouNetwork import MarabouNetwork
    return Marabou, MarabouCore, (MarabouUtils, MarabouNetwork)


class MarabouVerifier:
    """Marabou 2.0 (maraboupy) as a `Verifier`."""

    name = "marabou"
    label = "Marabou"

    def __init__(self) -> None:
        # Here, in the caller's process: in the forked child an ImportError is lost.
        require("maraboupy", "proving")

    @staticmethod
    def require(feature: str) -> None:
        """MissingExtraError, naming `feature`, when maraboupy is not installed."""
        require("maraboupy", feature)

    def describe(self) -> str:
        from importlib import metadata

        return f"marabou (maraboupy {metadata.version('maraboupy')})"

    def find_violation(self, query: Query, timeout: float) -> QueryResult:
        start = time.perf_counter()
        scratch = tempfile.mkdtemp(prefix="sanp-marabou-")
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: solve, send the pickled result, leave without cleanup
            try:
                os.close(read)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _quiet(scratch)
                payload = pickle.dumps(self._solve(query, timeout))
                with os.fdopen(write, "wb") as f:
                    f.write(payload)
            finally:
                os._exit(0)
        os.close(write)
        try:
            data = _read_until(read, start + timeout + GRACE)
        finally:
            os.close(read)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            shutil.rmtree(scratch, ignore_errors=True)
        seconds = time.perf_counter() - start
        if data is None:
            return QueryResult("timeout", None, seconds, "marabou overran its timeout and was stopped")
        try:
            res = pickle.loads(data)
        except Exception:  # noqa: BLE001 - a child that died mid-write
            return QueryResult("error", None, seconds, "the marabou process died")
        return QueryResult(res.status, res.point, seconds, res.message)

    def _solve(self, query: Query, timeout: float) -> QueryResult:
        Marabou, _core, _ = _maraboupy()
        start = time.perf_counter()
        built = self._build(query)
        if built is None:
            return QueryResult("unsat", None, time.perf_counter() - start)
        net, x = built
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

    def _build(self, query: Query) -> tuple[Any, list[int]] | None:
        """The Marabou network of `query`, or None when its violation is infeasible as
        written (every disjunct has a constant condition that fails)."""
        _, MarabouCore, (MarabouUtils, MarabouNetwork) = _maraboupy()
        net = MarabouNetwork()
        x = [net.getNewVariable() for _ in range(query.box.dim)]
        net.inputVars = [np.array(x)]
        for v, lo, hi in zip(x, query.box.lo, query.box.hi):
            net.setLowerBound(v, lo)
            net.setUpperBound(v, hi)
        outputs: list[int] = []
        shared: dict[tuple, int] = {}
        for pl in query.nets:
            outputs += _add_net(net, pl, x, shared)
        net.outputVars = [np.array(outputs)]
        for a in query.assumptions:
            eq = _equation(a, x, MarabouUtils, MarabouCore)
            if eq is False:
                return None
            if eq is not True:
                net.addEquation(eq)
        disjuncts = []
        for conj in query.violation:
            eqs = [_equation(c, outputs, MarabouUtils, MarabouCore) for c in conj]
            if False not in eqs:
                disjuncts.append([e for e in eqs if e is not True])
        if not disjuncts:
            return None
        if len(disjuncts) == 1:
            for eq in disjuncts[0]:
                net.addEquation(eq)
        elif all(disjuncts):
            net.addDisjunctionConstraint(disjuncts)
        return net, x


def _quiet(scratch: str) -> None:
    """In the child: Marabou's C++ code prints its search to fd 1 and 2 (whatever its
    verbosity) and dumps a failed query as `failedMarabouQuery.ipq` into the current
    directory; send the first to /dev/null and the second into `scratch`, which the
    parent removes."""
    os.chdir(scratch)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


def _read_until(fd: int, deadline: float) -> bytes | None:
    """Everything written to `fd` until its writer closes it, or None at `deadline`."""
    chunks: list[bytes] = []
    while True:
        left = deadline - time.perf_counter()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _add_net(net: Any, pl: PLNet, inputs: list[int], shared: dict[tuple, int]) -> list[int]:
    """Variables for the units of `pl` over `inputs`. A unit identical to one already
    added (same inputs, weights, bias, ReLU: e.g. a weight row pruning left intact) reuses
    its variable: duplicated rows make Marabou's simplex degenerate, and it can stall."""
    cur = inputs
    for layer in pl.layers:
        nxt = []
        for r in range(layer.W.shape[0]):
            nz = np.flatnonzero(layer.W[r])
            key = (tuple((cur[j], float(layer.W[r, j])) for j in nz), float(layer.b[r]), bool(layer.relu[r]))
            if key not in shared:
                pre = net.getNewVariable()
                net.addEquality([cur[j] for j in nz] + [pre], [float(layer.W[r, j]) for j in nz] + [-1.0],
                                -float(layer.b[r]))
                shared[key] = pre
                if layer.relu[r]:
                    shared[key] = net.getNewVariable()
                    net.addRelu(pre, shared[key])
            nxt.append(shared[key])
        cur = nxt
    return cur


def _equation(c: Linear, variables: list[int], MarabouUtils: Any, MarabouCore: Any) -> Any:
    """The Marabou equation of `c` over `variables` (strict comparisons are closed: the
    verifier works over the reals, the caller re-checks its points). Terms on one
    variable are merged; a condition left without terms is constant: True or False."""
    coeffs: dict[int, float] = {}
    for i, coeff in c.terms:
        coeffs[variables[i]] = coeffs.get(variables[i], 0.0) + coeff
    coeffs = {v: k for v, k in coeffs.items() if k != 0}
    if not coeffs:
        return bool(Linear(((0, 1.0),), c.op, c.rhs).holds(np.zeros(1)))
    kind = {"<=": MarabouCore.Equation.LE, "<": MarabouCore.Equation.LE, ">=": MarabouCore.Equation.GE,
            ">": MarabouCore.Equation.GE, "==": MarabouCore.Equation.EQ}[c.op]
    eq = MarabouUtils.Equation(kind)
    for v, coeff in coeffs.items():
        eq.addAddend(coeff, v)
    eq.setScalar(c.rhs)
    return eq
