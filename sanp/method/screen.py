"""The deep schedule's safety screen: a fixed batch of uniform points of the spec's
search space, run by the dense policy once and by every level of the schedule; a level
the paired test finds more often violating than the dense policy is rejected.

Reward alone does not guard safety: on BipedalWalker the schedule reached 92% sparsity
with the reward at the cutoff (measured on the env's own terrain) while the sparse walker
violated the spec on 16-47% of round 1's uniform points (rougher terrain, harder pushes;
the dense walker violates 2-3% of uniform points), and one repair round could not win
that back. A plain count
("no more violations than the dense policy") is too noisy to be the rule: measured on
the walker at 50-75% sparsity, levels with 3 violations against the dense policy's 2
of 100 were rejected try after try and the schedule stopped at 50%. The test is exact
McNemar (`sanp.stats.paired_worse_p`), on the same points for both policies.

The screen is a validation set: its points come from their own stream (never the
held-out check's, never the falsifier's) and its trajectories are never trained on.

Example:
    >>> scr = Screen.draw(binding, spec, dense, points=100, seed=0, confidence=0.95)
    >>> scr.check(sparse).passed
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sanp.envs import Binding
from sanp.method.recover import safe_on
from sanp.stats import check_confidence, paired_worse_p

SCREEN_SEED = 30_000_001
"""Entropy of the screen's uniform stream, combined with the run's seed (a stream no
integer-seeded generator of the loop or the held-out check produces)."""


@dataclass(frozen=True)
class ScreenCheck:
    """One level on the screen's points."""

    violations: int
    only_sparse: int
    """Points this policy violates and the dense one does not."""
    only_dense: int
    p_value: float
    """Exact one-sided McNemar test of 'this policy violates more often'."""
    passed: bool


@dataclass(frozen=True, eq=False)
class Screen:
    """Uniform points and which of them the dense policy violates."""

    binding: Binding
    spec: Any
    points: tuple[Any, ...]
    dense_violated: tuple[bool, ...]
    confidence: float = 0.95

    @classmethod
    def draw(cls, binding: Binding, spec: Any, dense: Any, points: int, seed: int,
             confidence: float = 0.95) -> Screen:
        """`points` uniform points from the screen's stream for `seed`, run by `dense`."""
        pts = tuple(binding.uniform_points(points, np.random.default_rng((SCREEN_SEED, seed))))
        return cls(binding, spec, pts, _violated(binding, spec, pts, dense), check_confidence(confidence))

    @property
    def allowed(self) -> int:
        """The dense policy's violations on the screen."""
        return sum(self.dense_violated)

    def violated(self, policy: Any) -> tuple[bool, ...]:
        """Per point: does `policy` (as deployed) violate a requirement there?"""
        return _violated(self.binding, self.spec, self.points, policy)

    def check(self, policy: Any) -> ScreenCheck:
        """`policy` on the screen's points, against the dense policy on the same points."""
        bad = self.violated(policy)
        only_s = sum(b and not d for b, d in zip(bad, self.dense_violated))
        only_d = sum(d and not b for b, d in zip(bad, self.dense_violated))
        p = paired_worse_p(only_s, only_d)
        return ScreenCheck(sum(bad), only_s, only_d, p, p >= 1 - self.confidence)


def _violated(binding: Binding, spec: Any, points: tuple[Any, ...], policy: Any) -> tuple[bool, ...]:
    return tuple(not ok for ok in safe_on(policy, binding, spec, points, record_states=False)[0])
