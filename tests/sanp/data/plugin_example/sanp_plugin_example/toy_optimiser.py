"""A toy optimiser (the `sanp.proposers` protocol): points near the unit cube's upper
corner, three at a time, each nudged by a seeded generator."""
from __future__ import annotations

from typing import Any

import numpy as np


class ToyOptimiser:
    name = "toy"
    label = "toy corner search"
    uniform = False  # not uniform: no violation-rate bound may be drawn from its points

    def __init__(self, dim: int, seed: int):
        self.dim, self.rng = dim, np.random.default_rng(seed)

    @classmethod
    def create(cls, dim: int, budget: int, seed: int, config: Any) -> ToyOptimiser:
        return cls(dim, seed)

    def chunk(self, remaining: int) -> int:
        return min(remaining, 3)

    def propose(self, n: int) -> np.ndarray:
        return 1.0 - 0.01 * self.rng.uniform(size=(n, self.dim))

    def tell(self, x: np.ndarray, y: np.ndarray) -> None:
        pass
