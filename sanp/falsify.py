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

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

import stl
from sanp.envs import Binding
from sanp.errors import EnvError, OptionError
from sanp.proposers import BOConfig, BOProposer, RandomProposer
from sanp.rollout import Trajectory, run_batch
from sanp.stats import RateBound, check_confidence, points_for_rate, rate_bound, upper_bound
from sanp.types import Actor, Point
from stl.critical import decision


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
    confidence: float = 0.95
    """Confidence level of the violation-rate bound of uniform sampling."""
    target_rate: float | None = None
    """Uniform sampling only: stop once the exact upper bound on the violation rate is at
    most this (at `confidence`); with no violation that takes
    ceil(ln(1 - confidence) / ln(1 - target_rate)) rollouts."""

    def __post_init__(self) -> None:
        if self.budget <= 0:
            raise OptionError(f"budget must be a positive number of rollouts, got {self.budget}")
        if self.optimizer not in ("bo", "random"):
            raise OptionError(f"optimizer must be 'bo' or 'random', got {self.optimizer!r}")
        if self.mode not in ("joint", "each"):
            raise OptionError(f"mode must be 'joint' or 'each', got {self.mode!r}")
        check_confidence(self.confidence)
        if self.target_rate is not None:
            points_for_rate(self.target_rate, self.confidence)  # checks the range
            if self.optimizer != "random" or self.mode != "joint":
                raise OptionError("a target rate needs uniform sampling of all requirements together: "
                                  "use --optimizer random without --mode each")


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

    @property
    def target_reached(self) -> bool:
        """A target rate was set and the bound fell to it."""
        eps = self.config.target_rate
        return eps is not None and any(b.upper_bound <= eps for b in self.statistics())

    def target_summary(self) -> dict[str, Any] | None:
        """With a target rate: the target, the confidence, the episodes drawn, whether the
        bound reached the target, and the episodes zero violations need."""
        eps = self.config.target_rate
        if eps is None:
            return None
        reached = self.target_reached
        n = len(self.evaluations)
        if reached:
            text = f"violation rate <= {eps:g} at {self.config.confidence:g} confidence after {n} uniform episodes"
        elif self.counterexamples:
            text = f"stopped at a violation after {n} uniform episodes: the target rate {eps:g} was not shown"
        else:
            text = f"the budget ({n} episodes) ended before the bound fell to {eps:g}"
        return {"target": eps, "confidence": self.config.confidence, "episodes": n, "reached": reached,
                "zero_violation_episodes": points_for_rate(eps, self.config.confidence), "text": text}

    def statistics(self) -> tuple[RateBound, ...]:
        """Uniform sampling only: the violation-rate bound of each search (one, or one per
        requirement in "each" mode). BO's points are not uniform: none for BO."""
        if self.config.optimizer != "random":
            return ()
        out = []
        for target in dict.fromkeys(e.target for e in self.evaluations):
            evs = [e for e in self.evaluations if e.target == target]
            bad = sum(not e.objective >= 0 for e in evs)
            label = "uniform search" + (f" of {target}" if target else "")
            if bad and not self.config.collect_all:
                label += " (stopped at the first violation)"
            out.append(rate_bound(label, bad, len(evs), self.config.confidence))
        return tuple(out)

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
    """The step that decides the requirement's robustness: the comparison and step its
    value comes from, inside the requirement's own windows (`stl.critical`), as the
    counterexample plots mark it."""
    if traj.nonfinite:
        return traj.length
    step = decision(spec.requirements[name], traj.signals(spec)).step
    return 0 if step is None else step


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
    run = _Run(actor, binding, spec, config, names, config.budget * len(targets), progress)
    for ti, target in enumerate(targets):
        if run.search(target, config.seed + 1000003 * ti):
            break
    return FalsifyResult(
        config=config,
        requirements=tuple(names),
        evaluations=tuple(run.evaluations),
        counterexamples=tuple(merge(run.found, binding, config.merge_tol)),
        wall_time=time.perf_counter() - run.t_start,
        rollout_time=run.t_roll,
        optimizer_time=run.t_opt,
    )


class _Run:
    """The evaluations of one falsify() call, searched one target at a time."""

    def __init__(self, actor, binding, spec, config, names, total, progress):
        self.actor, self.binding, self.spec, self.config = actor, binding, spec, config
        self.names, self.total, self.progress = names, total, progress
        self.t_start = time.perf_counter()
        self.evaluations: list[Evaluation] = []
        self.found: list[Counterexample] = []
        self.t_roll = self.t_opt = 0.0
        self.best = float("inf")

    def search(self, target: str | None, seed: int) -> bool:
        """One search (all requirements, or `target`); True when the whole run must stop
        (a counterexample found and not collecting all)."""
        config, binding = self.config, self.binding
        dim = len(binding.space)
        proposer = (BOProposer(dim, config.bo, config.budget, seed) if config.optimizer == "bo"
                    else RandomProposer(dim, seed))
        lo, hi = binding.bounds[:, 0], binding.bounds[:, 1]
        scope = self.names if target is None else (target,)
        done = bad = 0
        while done < config.budget:
            t0 = time.perf_counter()
            # Rollouts of a chunk run together; the part of a chunk past a stop is
            # discarded, so results do not depend on the chunk size.
            unit = proposer.propose(proposer.chunk(config.budget - done))
            t1 = time.perf_counter()
            points = [binding.point(lo + u * (hi - lo)) for u in unit]
            trajs = run_batch(self.actor, binding, points)
            self.t_opt += t1 - t0
            self.t_roll += time.perf_counter() - t1
            ys = []
            for point, traj in zip(points, trajs):
                violated = self._evaluate(point, traj, scope, target)
                ys.append(self.evaluations[-1].objective)
                done, bad = done + 1, bad + bool(violated)
                if violated and not config.collect_all:
                    return True
                if config.target_rate is not None and upper_bound(bad, done, config.confidence) <= config.target_rate:
                    return False
            proposer.tell(unit[: len(ys)], np.array(ys))
        return False

    def _evaluate(self, point: Point, traj: Trajectory, scope: Sequence[str], target: str | None) -> tuple[str, ...]:
        rob = score(self.spec, self.names, traj)
        obj = min(rob[n] for n in scope)
        ev = Evaluation(len(self.evaluations), point, rob, obj, target)
        self.evaluations.append(ev)
        self.best = min(self.best, obj)
        violated = tuple(n for n in scope if not rob[n] >= 0)
        if violated:
            worst = min(violated, key=lambda n: rob[n])
            self.found.append(Counterexample(point, violated, rob, rob[worst],
                                             critical_step(self.spec, worst, traj), traj, ev.index))
        if self.progress:
            self.progress(len(self.evaluations), self.total, self.best)
        return violated


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
