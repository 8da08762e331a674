"""Optimiser "cmaes": CMA-ES (the `cma` package, Hansen's reference implementation) on
the unit cube, with restarts from a fresh random mean and a doubled population when a
run converges (IPOP-CMA-ES). Every generation is one batch of `popsize` points, so a
round's rollouts run together on the process pool or Ray.

Assumes only that lower robustness tends to lie near violations: CMA-ES uses the ranks
of the objective, never its values, so it is blind to the scale of robustness, to
outliers and to infinite values (a NaN episode ranks lowest). It is a local search: it
follows the robustness downhill from where it starts; the restarts and the first
generation's wide spread give it the global part.

Example:
    >>> p = CMAESProposer(dim=2, seed=0, config=CMAESConfig(popsize=6))
    >>> x = p.propose(p.chunk(100)); x.shape
    (6, 2)
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class CMAESConfig:
    """Settings of the CMA-ES optimiser."""

    popsize: int = 0
    """Points per generation (the batch); 0: CMA-ES's default, 4 + 3 ln(dim)."""
    sigma0: float = 0.3
    """Initial step size, as a fraction of the cube's side."""
    restart_popsize_factor: float = 2.0
    """Population growth at each restart (IPOP)."""
    min_sigma: float = 1e-3
    """Restart when the step size falls below this (the run has converged)."""


@contextlib.contextmanager
def _numpy_global(seed: int) -> Iterator[None]:
    """`cma` draws a few numbers from numpy's global RNG (besides the `randn` it is
    given): seed it for the call and put the caller's state back."""
    saved = np.random.get_state()
    np.random.seed(seed % (2**32))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        np.random.set_state(saved)


class CMAESProposer:
    """IPOP-CMA-ES driven by ask/tell, one generation per chunk."""

    name: ClassVar[str] = "cmaes"
    label: ClassVar[str] = "CMA-ES"
    uniform: ClassVar[bool] = False

    def __init__(self, dim: int, seed: int, config: CMAESConfig = CMAESConfig(), x0: np.ndarray | None = None):
        import cma

        self._cma = cma
        self.dim, self.seed, self.cfg = dim, seed, config
        self.rng = np.random.default_rng(seed)
        self.popsize = config.popsize or 4 + int(3 * np.log(dim))
        self.calls = 0
        self.asked: np.ndarray | None = None
        self._start(np.full(dim, 0.5) if x0 is None else np.asarray(x0, dtype=np.float64))

    @classmethod
    def create(cls, dim: int, budget: int, seed: int, config: Any) -> CMAESProposer:
        """The registry's constructor: settings from `config.cmaes` when it has them."""
        return cls(dim, seed, getattr(config, "cmaes", None) or CMAESConfig())

    def _start(self, x0: np.ndarray) -> None:
        opts = {"bounds": [0.0, 1.0], "popsize": self.popsize, "verbose": -9, "seed": np.nan,
                "randn": lambda *shape: self.rng.standard_normal(shape), "tolfun": 0, "tolflatfitness": 10**9,
                "tolfunhist": 0, "tolstagnation": 10**9}
        with self._global():
            self.es = self._cma.CMAEvolutionStrategy(list(x0), self.cfg.sigma0, opts)

    def _global(self):
        self.calls += 1
        return _numpy_global(self.seed * 7919 + self.calls)

    def chunk(self, remaining: int) -> int:
        return min(remaining, self.popsize)

    def propose(self, n: int) -> np.ndarray:
        with self._global():
            self.asked = np.clip(np.array(self.es.ask(), dtype=np.float64), 0.0, 1.0)
        return self.asked[:n]

    def tell(self, x: np.ndarray, y: np.ndarray) -> None:
        if self.asked is None or len(y) < len(self.asked):
            return  # a cut generation is the search's last: nothing learns from it
        with self._global():
            self.es.tell(list(self.asked), list(_finite(np.asarray(y, dtype=np.float64))))
        self.asked = None
        if self.es.sigma * float(np.max(self.es.sm.variances) ** 0.5) < self.cfg.min_sigma or self.es.stop():
            self.popsize = round(self.popsize * self.cfg.restart_popsize_factor)
            self._start(self.rng.uniform(size=self.dim))


def _finite(y: np.ndarray) -> np.ndarray:
    """Ranks are all CMA-ES uses: infinite and NaN values become finite extremes (NaN
    and -inf lowest: a non-finite episode is a violation)."""
    finite = np.isfinite(y)
    if not finite.any():
        return np.zeros_like(y)
    lo, hi = y[finite].min(), y[finite].max()
    span = max(hi - lo, 1.0)
    return np.where(np.isposinf(y), hi + span, np.where(finite, y, lo - span))
