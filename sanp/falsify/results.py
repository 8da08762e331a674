"""What a falsification run returns: its evaluations, its counterexamples (with their
trajectories), timings and, for uniform optimisers, violation-rate bounds."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sanp.falsify.config import FalsifyConfig
from sanp.falsify.registry import is_uniform
from sanp.rollout import Trajectory
from sanp.stats import RateBound, points_for_rate, rate_bound
from sanp.types import Point


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
        requirement in "each" mode). Other optimisers' points are not uniform: none for them."""
        if not is_uniform(self.config.optimizer):
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
