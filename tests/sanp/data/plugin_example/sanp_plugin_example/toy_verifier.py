"""A toy verifier (the `sanp.verifiers` protocol): interval arithmetic over the box,
sound but incomplete ("unsat" when the bounds rule the violation out, "sat" when the
box's centre violates, else "timeout", so branch and bound splits on)."""
from __future__ import annotations

import time
from typing import Any

import numpy as np


def _bounds(net: Any, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    for layer in net.layers:
        c, r = layer.W @ ((lo + hi) / 2) + layer.b, np.abs(layer.W) @ ((hi - lo) / 2)
        lo, hi = c - r, c + r
        lo, hi = np.where(layer.relu, np.maximum(lo, 0), lo), np.where(layer.relu, np.maximum(hi, 0), hi)
    return lo, hi


class ToyVerifier:
    name = "toy"
    label = "Toy interval arithmetic"

    def describe(self) -> str:
        return "toy (interval arithmetic, sanp-plugin-example)"

    def find_violation(self, query: Any, timeout: float) -> Any:
        from sanp.prove.properties import Box
        from sanp.prove.verifier import QueryResult

        start = time.perf_counter()
        lo, hi = np.array(query.box.lo), np.array(query.box.hi)
        parts = [_bounds(net, lo, hi) for net in query.nets]
        outputs = Box(tuple(np.concatenate([p[0] for p in parts])), tuple(np.concatenate([p[1] for p in parts])))

        def possible(c: Any) -> bool:
            low, high = c.range_over(outputs)
            return bool(high >= c.rhs) if c.op == ">=" else bool(low <= c.rhs)

        if not any(all(possible(c) for c in conj) for conj in query.violation):
            return QueryResult("unsat", None, time.perf_counter() - start)
        centre = (lo + hi) / 2
        values = np.concatenate([net(centre[None])[0] for net in query.nets])
        if all(a.holds(centre) for a in query.assumptions) and \
                any(all(c.holds(values) for c in conj) for conj in query.violation):
            return QueryResult("sat", tuple(float(v) for v in centre), time.perf_counter() - start)
        return QueryResult("timeout", None, time.perf_counter() - start, "bounds too loose")
