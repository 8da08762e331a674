"""Falsifiers: search a spec's search space for episodes that violate its requirements.

Two optimisers share one interface: Gaussian-process Bayesian optimisation (GPyOpt,
the default) and uniform random search (the baseline). Each evaluation is one rollout
that scores every selected requirement; the objective is their minimum robustness
("joint"), or one requirement at a time ("each").

Example:
    >>> result = falsify(policy, binding, spec, FalsifyConfig(budget=50, seed=1))
    >>> [c.point for c in result.counterexamples]
"""
from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

import stl
from sanp.envs import Binding
from sanp.errors import EnvError, OptionError
from sanp.rollout import Trajectory, run_batch
from sanp.types import Actor, Point


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


@dataclass(frozen=True)
class FalsifyConfig:
    """One falsification run."""

    budget: int = 100
    """Rollouts (evaluations) per search; per requirement in "each" mode."""
    optimizer: Literal["bo", "random"] = "bo"
    seed: int = 0
    collect_all: bool = False
    """Spend the whole budget and keep every counterexample (else stop at the first)."""
    requirements: tuple[str, ...] | None = None
    """Requirements to falsify; None means all of the spec's."""
    mode: Literal["joint", "each"] = "joint"
    merge_tol: float = 1e-3
    """Counterexamples whose points differ by less than this fraction of each range merge."""
    bo: BOConfig = field(default_factory=BOConfig)

    def __post_init__(self) -> None:
        if self.budget <= 0:
            raise OptionError(f"budget must be a positive number of rollouts, got {self.budget}")
        if self.optimizer not in ("bo", "random"):
            raise OptionError(f"optimizer must be 'bo' or 'random', got {self.optimizer!r}")
        if self.mode not in ("joint", "each"):
            raise OptionError(f"mode must be 'joint' or 'each', got {self.mode!r}")


@dataclass(frozen=True)
class Evaluation:
    """One rollout of the search."""

    index: int
    point: Point
    robustness: dict[str, float]
    objective: float
    """Minimum robustness over the requirements this search targets."""
    target: str | None = None
    """The requirement searched ("each" mode), or None (joint)."""


@dataclass(frozen=True, eq=False)
class Counterexample:
    """An episode on which at least one requirement has negative robustness."""

    point: Point
    violated: tuple[str, ...]
    robustness: dict[str, float]
    min_robustness: float
    step: int
    """Time step at which the most violated comparison of the worst requirement is worst."""
    trajectory: Trajectory = field(repr=False)
    evaluation: int
    """Index of the evaluation that found it."""


@dataclass(frozen=True, eq=False)
class FalsifyResult:
    config: FalsifyConfig
    requirements: tuple[str, ...]
    evaluations: tuple[Evaluation, ...]
    counterexamples: tuple[Counterexample, ...]
    wall_time: float
    rollout_time: float
    optimizer_time: float
    """Time spent proposing points (GP fit, acquisition optimisation)."""

    @property
    def falsified(self) -> bool:
        return bool(self.counterexamples)

    def first_counterexample_at(self) -> int | None:
        """1-based number of the rollout that found the first counterexample."""
        return min((c.evaluation + 1 for c in self.counterexamples), default=None)

    def min_robustness(self, name: str) -> float:
        values = [e.robustness[name] for e in self.evaluations if name in e.robustness]
        return min(values) if values else float("nan")


# -------------------------------------------------------------------------- scoring


def score(spec: Any, names: Sequence[str], traj: Trajectory) -> dict[str, float]:
    """Robustness of each requirement on one trajectory; a NaN/inf episode is -inf."""
    if traj.nonfinite:
        return {n: float("-inf") for n in names}
    signals = traj.signals(spec)
    return {n: float(stl.robustness_at0(spec.requirements[n], signals)) for n in names}


def critical_step(spec: Any, name: str, traj: Trajectory) -> int:
    """The step where the requirement's most violated comparison is at its worst."""
    if traj.nonfinite:
        return traj.length
    signals = traj.signals(spec)
    worst = np.full(len(traj.observations), np.inf)
    for pred in stl.predicates(spec.requirements[name]):
        worst = np.minimum(worst, stl.robustness(pred, signals))
    if not np.isfinite(worst).any():
        return 0
    return int(np.argmin(worst))


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


class _RandomProposer:
    def __init__(self, dim: int, seed: int):
        self.rng = np.random.default_rng(seed)
        self.dim = dim

    def propose(self, n: int) -> np.ndarray:
        return self.rng.uniform(0.0, 1.0, size=(n, self.dim))

    def chunk(self, remaining: int) -> int:
        return min(remaining, 32)

    def tell(self, x: np.ndarray, y: np.ndarray) -> None:
        pass


class _BOProposer:
    """GPyOpt's model, acquisition and acquisition optimiser driven one step at a time,
    on the unit cube (the GP sees standardised objective values)."""

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


# ------------------------------------------------------------------------------ run


def falsify(
    actor: Actor,
    binding: Binding,
    spec: Any,
    config: FalsifyConfig = FalsifyConfig(),
    *,
    progress: Callable[[int, int, float], None] | None = None,
) -> FalsifyResult:
    """Search `binding`'s search space for violations of the spec's requirements.

    `progress(done, total, best_objective)` is called after every evaluation.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _falsify(actor, binding, spec, config, progress)


def _falsify(actor, binding, spec, config, progress) -> FalsifyResult:
    names = _select(spec, config.requirements)
    if not binding.space:
        from sanp.envs import registered

        dims = ", ".join(d.name for d in binding.adapter.dimensions)
        raise EnvError(
            f"env {binding.env_id} has no search space: add `search NAME in [lo, hi]` lines "
            f"to the spec (dimensions: {dims})" if dims else
            f"env {binding.env_id} has no search space: register an adapter for it "
            f"(README, 'Your own environment'); built in: {', '.join(registered())}"
        )
    targets: list[str | None] = [None] if config.mode == "joint" else list(names)
    total = config.budget * len(targets)
    t_start = time.perf_counter()
    evaluations: list[Evaluation] = []
    found: list[Counterexample] = []
    t_roll = t_opt = 0.0
    best = float("inf")
    lo, hi = binding.bounds[:, 0], binding.bounds[:, 1]
    stop = False
    for ti, target in enumerate(targets):
        seed = config.seed + 1000003 * ti
        dim = len(binding.space)
        proposer = (
            _BOProposer(dim, config.bo, config.budget, seed)
            if config.optimizer == "bo"
            else _RandomProposer(dim, seed)
        )
        done = 0
        while done < config.budget and not stop:
            t0 = time.perf_counter()
            # Rollouts of a chunk run together; the part of a chunk past the first
            # counterexample is discarded, so results do not depend on the chunk size.
            unit = proposer.propose(proposer.chunk(config.budget - done))
            t1 = time.perf_counter()
            points = [binding.point(lo + u * (hi - lo)) for u in unit]
            trajs = run_batch(actor, binding, points)
            t2 = time.perf_counter()
            t_opt += t1 - t0
            t_roll += t2 - t1
            ys = []
            for u, point, traj in zip(unit, points, trajs):
                rob = score(spec, names, traj)
                scope = names if target is None else (target,)
                obj = min(rob[n] for n in scope)
                ev = Evaluation(len(evaluations), point, rob, obj, target)
                evaluations.append(ev)
                ys.append(obj)
                done += 1
                best = min(best, obj)
                violated = tuple(n for n in scope if not rob[n] >= 0)
                if violated:
                    worst = min(violated, key=lambda n: rob[n])
                    found.append(
                        Counterexample(
                            point, violated, rob, rob[worst], critical_step(spec, worst, traj),
                            traj, ev.index,
                        )
                    )
                if progress:
                    progress(len(evaluations), total, best)
                if violated and not config.collect_all:
                    stop = True
                    break
            proposer.tell(unit[: len(ys)], np.array(ys))
        if stop:
            break
    return FalsifyResult(
        config=config,
        requirements=tuple(names),
        evaluations=tuple(evaluations),
        counterexamples=tuple(merge(found, binding, config.merge_tol)),
        wall_time=time.perf_counter() - t_start,
        rollout_time=t_roll,
        optimizer_time=t_opt,
    )


def _select(spec: Any, wanted: Sequence[str] | None) -> list[str]:
    import difflib

    names = list(spec.requirements)
    if not wanted:
        return names
    for w in wanted:
        if w not in spec.requirements:
            close = difflib.get_close_matches(w, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(f"spec has no requirement {w!r}{hint}; it has: {', '.join(names)}")
    return [n for n in names if n in wanted]


def merge(found: list[Counterexample], binding: Binding, tol: float = 1e-3) -> list[Counterexample]:
    """Merge near-duplicate points, keeping the most violating of each cluster."""
    span = np.maximum(binding.bounds[:, 1] - binding.bounds[:, 0], 1e-12)
    kept: list[Counterexample] = []
    for cex in sorted(found, key=lambda c: (c.min_robustness, c.evaluation)):
        x = np.array([cex.point[d.name] for d in binding.space])
        dup = any(
            np.max(np.abs(x - np.array([k.point[d.name] for d in binding.space])) / span) < tol
            for k in kept
        )
        if not dup:
            kept.append(cex)
    return sorted(kept, key=lambda c: c.evaluation)
