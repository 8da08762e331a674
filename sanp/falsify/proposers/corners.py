"""Optimiser "corners": the corners of the search box first, then batches that pair one
generation of IPOP-CMA-ES, started from the corner with the lowest robustness
(`sanp.falsify.proposers.cmaes`), with points drawn near the edges (arcsine, Beta(1/2,
1/2), in every coordinate). Breach's falsifier starts the same way (its "corners"
sampling before a local optimiser).

Assumes that violations are likeliest at the edges of the search space: the largest
pushes, the most extreme initial states, the roughest terrain. That holds on every
rare-failure case of benchmarks/results/falsify.md (one or more corners violate the spec
although at most 5% of uniform points do). Where it does not hold, the corners cost
`min(2**dim, max_corners)` rollouts and the search goes on as CMA-ES from the least
robust of them, plus the edge-biased points, which keep a global search going where
CMA-ES converges on a local minimum. Batches: all corners at once, then one CMA-ES
generation and `edge_fraction` as many edge points per batch.

Example:
    >>> p = CornersProposer(dim=2, seed=0)
    >>> sorted(p.propose(p.chunk(100)).tolist())
    [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from sanp.falsify.proposers.cmaes import CMAESConfig, CMAESProposer


@dataclass(frozen=True)
class CornersConfig:
    """Settings of the corners-then-CMA-ES optimiser."""

    max_corners: int = 32
    """At most this many corners: all 2**dim of them up to 5 dimensions, else this many
    distinct corners drawn at random."""
    edge_fraction: float = 0.5
    """Edge-biased random points per CMA-ES point in each batch after the corners."""
    cmaes: CMAESConfig = field(default_factory=CMAESConfig)
    """The CMA-ES that follows the corners."""


class CornersProposer:
    """Corners (in a seeded random order), then CMA-ES from the least robust point."""

    name: ClassVar[str] = "corners"
    label: ClassVar[str] = "corners + CMA-ES"
    uniform: ClassVar[bool] = False

    def __init__(self, dim: int, seed: int, config: CornersConfig = CornersConfig()):
        self.dim, self.seed, self.cfg = dim, seed, config
        self.rng = np.random.default_rng(seed)
        self.queue = _corners(dim, config.max_corners, self.rng)
        self.best_x: np.ndarray | None = None
        self.best_y = float("inf")
        self.search: CMAESProposer | None = None
        self.split = 0

    @classmethod
    def create(cls, dim: int, budget: int, seed: int, config: Any) -> CornersProposer:
        """The registry's constructor: settings from `config.corners` when it has them."""
        return cls(dim, seed, getattr(config, "corners", None) or CornersConfig())

    def chunk(self, remaining: int) -> int:
        if len(self.queue):
            return min(remaining, len(self.queue))
        lam = self._search().popsize
        return min(remaining, lam + round(self.cfg.edge_fraction * lam))

    def propose(self, n: int) -> np.ndarray:
        if len(self.queue):
            out, self.queue = self.queue[:n], self.queue[n:]
            return out
        search = self._search()
        lam = search.popsize
        extra = round(self.cfg.edge_fraction * lam)
        # CMA-ES's generation first, then the edge points (drawn even when the batch is
        # cut, so the stream of either does not depend on the budget left).
        batch = np.vstack([search.propose(lam), self.rng.beta(0.5, 0.5, size=(extra, self.dim))])
        self.split = lam
        return batch[:n]

    def tell(self, x: np.ndarray, y: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.float64)
        if len(y):
            i = int(np.argmin(np.where(np.isnan(y), -np.inf, y)))
            if not y[i] >= self.best_y:
                self.best_x, self.best_y = np.array(x[i], dtype=np.float64), float(y[i])
        if self.search is not None:
            self.search.tell(x[: self.split], y[: self.split])

    def _search(self) -> CMAESProposer:
        if self.search is None:
            self.search = CMAESProposer(self.dim, self.seed, self.cfg.cmaes, x0=self.best_x)
        return self.search


def _corners(dim: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Every corner of [0, 1]**dim in a random order, or `cap` distinct random ones."""
    if dim <= 20 and 2**dim <= cap:
        corners = np.array(list(itertools.product((0.0, 1.0), repeat=dim)))
        return corners[rng.permutation(len(corners))]
    seen: dict[tuple[float, ...], None] = {}
    while len(seen) < cap:
        seen[tuple(rng.integers(0, 2, size=dim).astype(np.float64))] = None
    return np.array(list(seen))
