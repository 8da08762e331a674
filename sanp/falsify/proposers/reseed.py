"""Optimiser "reseed": the reset seed as a searched dimension. Every other optimiser lets
each point carry its own reset seed (hashed from its values: a fresh draw of the env's
own randomness, its terrain and noise, per candidate); this one keeps the reset seeds of
its least robust episodes and searches around them: the same terrain, the continuous
values perturbed.

Assumes that a violation is likelier on the terrain (reset seed) of a low-robustness
episode than on a fresh one, and near that episode's values: failures driven by the
env's own randomness, and by the values given that randomness. Where episodes fail
independently of both (benchmarks/results/falsify_terrain.md: the BipedalWalker case),
it is uniform sampling with extra steps and no faster.

After `warm` uniform points (their own seeds), each batch holds `local_fraction` replays
of kept seeds at Gaussian perturbations of their best values (a (1+1) evolution strategy
per seed, its step adapted by the one-fifth rule) and uniform points for the rest. A kept seed whose replays have not improved its best objective `patience` times in
a row is retired. The seeds each point ran with are recorded in its evaluation and its
counterexample (the point's `reset_seed`), so a counterexample replays exactly.

Example:
    >>> p = ReseedProposer(dim=2, seed=0, config=ReseedConfig(warm=4, batch=4))
    >>> x = p.propose(p.chunk(100)); p.reset_seeds()
    [None, None, None, None]
    >>> p.tell_reset_seeds([11, 12, 13, 14]); p.tell(x, [0.5, 0.2, 0.9, 0.7])
    >>> x = p.propose(p.chunk(100)); p.reset_seeds()[:2]
    [12, 11]
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from sanp.errors import OptionError


@dataclass(frozen=True)
class ReseedConfig:
    """Settings of the reset-seed local search."""

    warm: int = 16
    """Uniform points (each with its own seed) before any seed is replayed."""
    batch: int = 8
    """Points per batch after the warm start."""
    local_fraction: float = 0.5
    """Share of each batch that replays kept seeds at perturbed values."""
    keep: int = 4
    """How many seeds (the least robust episodes' terrains) are searched around at once."""
    sigma: float = 0.1
    """First standard deviation of a perturbation, as a fraction of each side of the cube;
    each kept seed adapts its own (times 1.5 after an improvement, 0.85 after none: the
    one-fifth success rule of evolution strategies)."""
    patience: int = 6
    """Replays of a kept seed without improving its best objective before it is retired."""

    def __post_init__(self) -> None:
        if self.warm < 1 or self.batch < 1 or self.keep < 1 or self.patience < 1:
            raise OptionError("reseed: warm, batch, keep and patience must be at least 1")
        if not 0.0 <= self.local_fraction <= 1.0 or not self.sigma > 0:
            raise OptionError("reseed: local_fraction must lie in [0, 1] and sigma be positive")


@dataclass
class _Kept:
    """A reset seed searched around: its best values and objective, replays since."""

    x: np.ndarray
    y: float
    sigma: float
    stale: int = 0


class ReseedProposer:
    """Uniform warm start, then local search on the kept reset seeds."""

    name: ClassVar[str] = "reseed"
    label: ClassVar[str] = "reset-seed local search"
    uniform: ClassVar[bool] = False

    def __init__(self, dim: int, seed: int, config: ReseedConfig = ReseedConfig()):
        self.dim, self.cfg = dim, config
        self.rng = np.random.default_rng(seed)
        self.told = 0
        self.kept: dict[int, _Kept] = {}
        self.retired: set[int] = set()
        self.turn = 0
        self._seeds: list[int | None] = []
        self._ran: list[int] | None = None

    @classmethod
    def create(cls, dim: int, budget: int, seed: int, config: Any) -> ReseedProposer:
        """The registry's constructor: settings from `config.reseed` when it has them."""
        return cls(dim, seed, getattr(config, "reseed", None) or ReseedConfig())

    def chunk(self, remaining: int) -> int:
        if self.told < self.cfg.warm:
            return min(remaining, self.cfg.warm - self.told)
        return min(remaining, self.cfg.batch)

    def propose(self, n: int) -> np.ndarray:
        active = self._active()
        local = 0 if self.told < self.cfg.warm or not active else min(n, round(self.cfg.local_fraction * n))
        xs, seeds = [], []
        for _ in range(local):
            s = active[self.turn % len(active)]
            self.turn += 1
            k = self.kept[s]
            xs.append(np.clip(k.x + self.rng.normal(0.0, k.sigma, self.dim), 0.0, 1.0))
            seeds.append(s)
        xs += list(self.rng.uniform(size=(n - local, self.dim)))
        self._seeds = seeds + [None] * (n - local)
        return np.array(xs, dtype=np.float64).reshape(n, self.dim)

    def reset_seeds(self) -> list[int | None]:
        """The reset seed of each point of the last proposal: a kept seed, or None (the
        point's own, hashed from its values)."""
        return list(self._seeds)

    def tell_reset_seeds(self, seeds: Sequence[int]) -> None:
        """The reset seeds the points of the next `tell` ran with (a spec's pinned seed
        overrides the proposed ones)."""
        self._ran = [int(s) for s in seeds]

    def tell(self, x: np.ndarray, y: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.float64)
        ran, self._ran = self._ran, None
        for i in range(len(y)):
            value = -np.inf if np.isnan(y[i]) else float(y[i])  # a NaN episode is a violation
            if ran is not None:
                self._update(ran[i], np.asarray(x[i], dtype=np.float64), value)
        self.told += len(y)

    def _update(self, seed: int, x: np.ndarray, y: float) -> None:
        if seed in self.retired:
            return
        kept = self.kept.get(seed)
        if kept is None:
            self.kept[seed] = _Kept(x, y, self.cfg.sigma)
        elif y < kept.y:
            kept.x, kept.y, kept.stale, kept.sigma = x, y, 0, min(0.5, kept.sigma * 1.5)
        else:
            kept.stale, kept.sigma = kept.stale + 1, max(1e-3, kept.sigma * 0.85)
            if kept.stale >= self.cfg.patience:
                self.retired.add(seed)
                del self.kept[seed]

    def _active(self) -> list[int]:
        """The `keep` least robust seeds not retired, least robust first."""
        return sorted(self.kept, key=lambda s: self.kept[s].y)[: self.cfg.keep]
