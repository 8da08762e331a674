"""Optimiser "random": independent uniform points on the unit cube, whatever the
objective says. The baseline, and the only built-in whose violation counts give an exact
rate bound (`FalsifyResult.statistics`, --target-rate).

Example:
    >>> p = RandomProposer(dim=4, seed=0)
    >>> p.propose(p.chunk(100)).shape
    (32, 4)
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np


class RandomProposer:
    """Uniform points from `numpy.random.default_rng(seed)`, 32 per chunk."""

    name: ClassVar[str] = "random"
    label: ClassVar[str] = "uniform random"
    uniform: ClassVar[bool] = True

    def __init__(self, dim: int, seed: int):
        self.rng = np.random.default_rng(seed)
        self.dim = dim

    @classmethod
    def create(cls, dim: int, budget: int, seed: int, config: Any) -> RandomProposer:
        """The registry's constructor."""
        return cls(dim, seed)

    def propose(self, n: int) -> np.ndarray:
        return self.rng.uniform(0.0, 1.0, size=(n, self.dim))

    def chunk(self, remaining: int) -> int:
        return min(remaining, 32)

    def tell(self, x: np.ndarray, y: np.ndarray) -> None:
        pass
