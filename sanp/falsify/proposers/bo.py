"""Optimiser "bo": Gaussian-process Bayesian optimisation (GPyOpt's model and
acquisitions, driven one step at a time) on the unit cube. sanp.falsify scales the
points to the search space and runs them.

Assumes a smooth objective over the search space (a GP with a Matern kernel): it pays
when rollouts are expensive against a GP step and failures sit in a region the GP can
see from nearby robustness values.
"""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np


@dataclass(frozen=True)
class BOConfig:
    """Settings of the Gaussian-process Bayesian optimiser."""

    initial_design: int = 10
    """Points drawn (Latin hypercube) before the GP proposes any; capped at budget."""
    acquisition: Literal["EI", "LCB", "MPI"] = "LCB"
    """Acquisition function; LCB with the weight below explores a bounded space well."""
    exploration_weight: float = 2.0
    """LCB's weight on the posterior standard deviation."""
    jitter: float = 0.01
    """EI/MPI's exploration jitter."""
    kernel: Literal["matern52", "matern32", "rbf"] = "matern52"
    ard: bool = True
    """One lengthscale per dimension."""
    hyper_every: int = 5
    """Re-fit the GP hyperparameters every this many iterations (the GP's data is
    updated every iteration); fitting them is most of the optimiser's overhead."""
    hyper_max_iters: int = 200
    """L-BFGS iterations of a hyperparameter fit."""
    candidates: int = 1000
    """Random points on which the acquisition is evaluated (one vectorised GP call)."""
    local_starts: int = 2
    """L-BFGS polishes of the acquisition, from the best candidates (GPyOpt's own
    optimiser runs 5; two find the same optimum at less than half the cost here)."""


# ------------------------------------------------------------------------ numpy rng


@contextlib.contextmanager
def _global_numpy_seed(seed: int) -> Iterator[None]:
    """GPyOpt and GPy draw from numpy's global RNG: seed it for the run and put the
    caller's state back afterwards."""
    saved = np.random.get_state()
    np.random.seed(seed % (2**32))
    try:
        yield
    finally:
        np.random.set_state(saved)


# ------------------------------------------------------------------------ proposers


class BOProposer:
    """GPyOpt's model, acquisition and acquisition optimiser driven one step at a time,
    on the unit cube (the GP sees standardised objective values)."""

    name: ClassVar[str] = "bo"
    label: ClassVar[str] = "BO"
    uniform: ClassVar[bool] = False

    @classmethod
    def create(cls, dim: int, budget: int, seed: int, config: Any) -> BOProposer:
        """The registry's constructor: settings from `config.bo` (a `FalsifyConfig`)."""
        return cls(dim, config.bo, budget, seed)

    def __init__(self, dim: int, cfg: BOConfig, budget: int, seed: int):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import GPy
            import GPyOpt
        self.GPy, self.GPyOpt = GPy, GPyOpt
        self.cfg, self.dim, self.seed = cfg, dim, seed
        self.n_init = max(1, min(cfg.initial_design, budget))
        self.space = GPyOpt.Design_space(
            [{"name": f"x{i}", "type": "continuous", "domain": (0.0, 1.0)} for i in range(dim)]
        )
        self.X = np.zeros((0, dim))
        self.Y = np.zeros((0, 1))
        self.model = None
        self.iteration = 0
        self.rng = np.random.default_rng(seed)

    def chunk(self, remaining: int) -> int:
        """The whole initial design at once, then one point per GP step."""
        return min(remaining, max(1, self.n_init - len(self.X)))

    def _kernel(self):
        kern = {
            "matern52": self.GPy.kern.Matern52,
            "matern32": self.GPy.kern.Matern32,
            "rbf": self.GPy.kern.RBF,
        }[self.cfg.kernel]
        return kern(self.dim, variance=1.0, ARD=self.cfg.ard)

    def propose(self, n: int) -> np.ndarray:
        if len(self.X) < self.n_init:
            k = min(n, self.n_init - len(self.X))
            return self._latin(k) if len(self.X) == 0 else self.rng.uniform(size=(k, self.dim))
        with _global_numpy_seed(self.seed * 7919 + self.iteration), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._suggest()[None, :]

    def _latin(self, k: int) -> np.ndarray:
        cut = (np.arange(k)[:, None] + self.rng.uniform(size=(k, self.dim))) / k
        for j in range(self.dim):
            cut[:, j] = cut[self.rng.permutation(k), j]
        return cut

    def _suggest(self) -> np.ndarray:
        GPyOpt = self.GPyOpt
        y = self._standardise(self.Y)
        refit = self.model is None or self.iteration % max(1, self.cfg.hyper_every) == 0
        if self.model is None:
            self.model = GPyOpt.models.GPModel(
                kernel=self._kernel(), exact_feval=True, optimize_restarts=1,
                verbose=False, max_iters=self.cfg.hyper_max_iters,
            )
        self.model.max_iters = self.cfg.hyper_max_iters if refit else 0
        self.model.updateModel(self.X, y, None, None)
        self.iteration += 1
        if self.cfg.acquisition == "EI":
            acq = GPyOpt.acquisitions.AcquisitionEI(self.model, self.space, None, jitter=self.cfg.jitter)
        elif self.cfg.acquisition == "MPI":
            acq = GPyOpt.acquisitions.AcquisitionMPI(self.model, self.space, None, jitter=self.cfg.jitter)
        else:
            acq = GPyOpt.acquisitions.AcquisitionLCB(
                self.model, self.space, None, exploration_weight=self.cfg.exploration_weight
            )
        x = self._maximise(acq)
        x = np.clip(np.asarray(x, dtype=np.float64).reshape(-1), 0.0, 1.0)
        if len(self.X) and np.min(np.max(np.abs(self.X - x), axis=1)) < 1e-9:
            # A repeated point gives a singular GP and no information: explore instead.
            x = self.rng.uniform(size=self.dim)
        return x

    def _maximise(self, acq) -> np.ndarray:
        """Best of `candidates` random points, then L-BFGS from the best few. GPyOpt's
        acquisition functions return the value to minimise (the negated acquisition)."""
        from scipy.optimize import minimize

        cand = self.rng.uniform(size=(self.cfg.candidates, self.dim))
        values = acq.acquisition_function(cand).reshape(-1)
        best_x, best_v = cand[np.argmin(values)], float(np.min(values))
        for x0 in cand[np.argsort(values, kind="stable")[: self.cfg.local_starts]]:
            def f_df(x):
                v, g = acq.acquisition_function_withGradients(x[None, :])
                return float(np.ravel(v)[0]), np.ravel(g)

            res = minimize(f_df, x0, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * self.dim,
                           options={"maxiter": 50})
            if res.fun < best_v:
                best_x, best_v = res.x, float(res.fun)
        return best_x

    @staticmethod
    def _standardise(Y: np.ndarray) -> np.ndarray:
        finite = np.isfinite(Y)
        if not finite.any():
            return np.zeros_like(Y)
        lo, hi = Y[finite].min(), Y[finite].max()
        span = max(hi - lo, 1e-9)
        # Infinite robustness (vacuous or NaN episodes) becomes a finite extreme.
        y = np.where(np.isposinf(Y), hi + span, np.where(np.isneginf(Y) | np.isnan(Y), lo - span, Y))
        return (y - y.mean()) / max(y.std(), 1e-9)

    def tell(self, x: np.ndarray, y: np.ndarray) -> None:
        self.X = np.vstack([self.X, x])
        self.Y = np.vstack([self.Y, np.asarray(y, dtype=np.float64).reshape(-1, 1)])
