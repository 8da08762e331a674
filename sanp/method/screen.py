"""The deep schedule's safety screen: uniform points of the spec's search space, run by
the dense policy and by every level of the schedule (and every repair); a policy the
paired test finds more often violating than the dense policy is rejected.

Reward alone does not guard safety: on BipedalWalker the schedule reached 92% sparsity
with the reward at the cutoff (measured on the env's own terrain) while the sparse walker
violated the spec on 16-47% of round 1's uniform points (rougher terrain, harder pushes;
the dense walker violates 2-3% of uniform points), and one repair round could not win
that back. A plain count
("no more violations than the dense policy") is too noisy to be the rule: measured on
the walker at 50-75% sparsity, levels with 3 violations against the dense policy's 2
of 100 were rejected try after try and the schedule stopped at 50%. The test is exact
McNemar (`sanp.stats.paired_worse_p`), on the same points for both policies.

The test is sequential: the first batch of points, then another batch while the policy
violates more of the points so far than the dense policy and the test has not rejected
it, up to `looks` batches. One fixed batch of 100 was too weak: on LunarLander a repair
passed with 4 of 100 points violated against the dense policy's 0 (p = 0.0625) and
violated 23 of 300 points of the same stream. Each look tests at (1 - confidence) /
looks (Bonferroni), so a policy no worse than the dense one is rejected with probability
at most 1 - confidence over all looks; a policy the first batch shows no worse costs one
batch, as before. A batch is drawn, and run by the dense policy, only when a check first
needs it.

The screen is a validation set: its points come from their own stream (never the
held-out check's, never the falsifier's) and its trajectories are never trained on.

A level that passes the screen is adopted only after a confirmation on fresh points
(`Confirmation`, its own stream `screen.confirm`): its observed violation rate there may not
exceed the dense policy's + the run's non-inferiority margin. The screen's points are
the ones it was selected on, so a level that looks fine there can still be worse (issue
27: a CartPole level adopted at 3 vs 0 of 400 screen points); fresh points are not
subject to that selection. The rule is the point estimate, stricter than a test of
"excess <= margin" at any level below 1/2, so a level whose observed rate exceeds the
dense one's + the margin is never adopted (`sanp.method.alpha` says why it spends none of
the run's error).

Example:
    >>> scr = Screen.draw(binding, spec, dense, points=100, seed=0, confidence=0.95, looks=4)
    >>> chk = scr.check(sparse)
    >>> chk.passed, chk.points
    (True, 100)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sanp import seeds
from sanp.envs import Binding
from sanp.errors import OptionError
from sanp.method.recover import safe_on
from sanp.stats import check_confidence, check_margin, paired_worse_p


@dataclass(frozen=True)
class ScreenCheck:
    """One policy on the screen's points, at the look where the test stopped."""

    violations: int
    only_sparse: int
    """Points this policy violates and the dense one does not."""
    only_dense: int
    p_value: float
    """Exact one-sided McNemar test of 'this policy violates more often'."""
    passed: bool
    """`p_value` >= `alpha`."""
    points: int
    """Points the test used (one or more batches)."""
    dense_violations: int
    """The dense policy's violations on those points."""
    alpha: float
    """The level each look tests at: (1 - confidence) / looks."""


@dataclass(frozen=True, eq=False)
class Screen:
    """Batches of uniform points, and which of them the dense policy violates; batch j is
    drawn, and run by the dense policy, when a check first needs it."""

    binding: Binding
    spec: Any
    dense: Any = field(repr=False)
    points_per_look: int = 100
    looks: int = 1
    seed: int = 0
    confidence: float = 0.95
    confirmation: Confirmation | None = None
    """Fresh points a policy that passes the screen must also pass to be adopted (None: none)."""
    _batches: list[tuple[Any, ...]] = field(init=False, default_factory=list, repr=False)
    _dense_violated: list[tuple[bool, ...]] = field(init=False, default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.points_per_look <= 0 or self.looks <= 0:
            raise OptionError(f"the screen needs points > 0 and looks > 0, got {self.points_per_look} and "
                              f"{self.looks}")
        check_confidence(self.confidence)

    @classmethod
    def draw(cls, binding: Binding, spec: Any, dense: Any, points: int, seed: int,
             confidence: float = 0.95, looks: int = 1) -> Screen:
        """Up to `looks` batches of `points` uniform points from the screen's stream for
        `seed` (batch j does not depend on `looks`); the first is drawn and run by `dense`
        now."""
        scr = cls(binding, spec, dense, points, looks, seed, confidence)
        scr._dense_on(0)
        return scr

    @property
    def points(self) -> tuple[Any, ...]:
        """The first batch: every check runs it."""
        return self.batch(0)

    @property
    def dense_violated(self) -> tuple[bool, ...]:
        """Per point of the first batch: does the dense policy violate a requirement there?"""
        return self._dense_on(0)

    @property
    def allowed(self) -> int:
        """The dense policy's violations on the first batch."""
        return sum(self.dense_violated)

    @property
    def alpha(self) -> float:
        """The level of each look's test."""
        return (1 - self.confidence) / self.looks

    def reference(self) -> ScreenCheck:
        """The dense policy's own row: its violations on the first batch, nothing
        discordant (what `check(dense)` returns, without running it again)."""
        return ScreenCheck(self.allowed, 0, 0, 1.0, True, len(self.points), self.allowed, self.alpha)

    def batch(self, j: int) -> tuple[Any, ...]:
        """The points of look `j` (0-based)."""
        if not 0 <= j < self.looks:
            raise IndexError(f"the screen has {self.looks} looks, not {j + 1}")
        while len(self._batches) <= j:  # batch j: the stream screen.batch.j of the run's seed tree
            rng = seeds.generator(self.seed, f"screen.batch.{len(self._batches)}")
            self._batches.append(tuple(self.binding.uniform_points(self.points_per_look, rng)))
        return self._batches[j]

    def violated(self, policy: Any, batch: int = 0) -> tuple[bool, ...]:
        """Per point of `batch`: does `policy` (as deployed) violate a requirement there?"""
        return _violated(self.binding, self.spec, self.batch(batch), policy)

    def check(self, policy: Any) -> ScreenCheck:
        """`policy` against the dense policy on the same points, one more batch per look
        while `policy` violates more of them and the test has not rejected it."""
        bad: list[bool] = []
        ref: list[bool] = []
        for j in range(self.looks):
            bad += self.violated(policy, j)
            ref += self._dense_on(j)
            only_s = sum(b and not d for b, d in zip(bad, ref))
            only_d = sum(d and not b for b, d in zip(bad, ref))
            p = paired_worse_p(only_s, only_d)
            if p < self.alpha or only_s <= only_d:
                break
        return ScreenCheck(sum(bad), only_s, only_d, p, p >= self.alpha, len(bad), sum(ref), self.alpha)

    def _dense_on(self, batch: int) -> tuple[bool, ...]:
        while len(self._dense_violated) <= batch:
            self._dense_violated.append(self.violated(self.dense, len(self._dense_violated)))
        return self._dense_violated[batch]


@dataclass(frozen=True)
class ConfirmCheck:
    """One level on the confirmation's fresh points."""

    violations: int
    dense_violations: int
    points: int
    margin: float
    passed: bool
    """violations / points <= dense_violations / points + margin."""


@dataclass(frozen=True, eq=False)
class Confirmation:
    """Fresh uniform points (the confirmation's own stream) and the dense policy's
    violations on them, run once; `check` holds a level to the dense rate + `margin`."""

    binding: Binding
    spec: Any
    dense: Any = field(repr=False)
    points_count: int = 200
    seed: int = 0
    margin: float = 0.005
    _points: tuple[Any, ...] = field(init=False, default=(), repr=False)
    _dense_violated: tuple[bool, ...] | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        if self.points_count <= 0:
            raise OptionError(f"the confirmation needs points > 0, got {self.points_count}")
        check_margin(self.margin)
        rng = seeds.generator(self.seed, "screen.confirm")
        object.__setattr__(self, "_points", tuple(self.binding.uniform_points(self.points_count, rng)))

    @property
    def points(self) -> tuple[Any, ...]:
        return self._points

    @property
    def dense_violations(self) -> int:
        if self._dense_violated is None:
            object.__setattr__(self, "_dense_violated", self.violated(self.dense))
        return sum(self._dense_violated)

    def violated(self, policy: Any) -> tuple[bool, ...]:
        return _violated(self.binding, self.spec, self._points, policy)

    def check(self, policy: Any) -> ConfirmCheck:
        """`policy` on the fresh points: passed when its violations exceed the dense
        policy's by at most margin x points (integer counts, so compared exactly)."""
        bad, ref, n = sum(self.violated(policy)), self.dense_violations, len(self._points)
        return ConfirmCheck(bad, ref, n, self.margin, bad - ref <= self.margin * n + 1e-9)


def draw_screen(dense: Any, binding: Binding, spec: Any, config: Any,
                say: Any = lambda _m: None) -> Screen | None:
    """The run's safety screen for a `DeepConfig`: up to `config.screen_looks` batches of
    `config.screen` points from the screen's stream for `config.seed`, run by `dense`, each
    look at the screen's share of the run's error (`sanp.method.alpha`), with its
    confirmation attached (None when the screen is off or the spec has no requirement).
    The same points every time it is drawn for the same settings."""
    from sanp.method.alpha import AlphaSplit

    if not (config.screen and spec.requirements):
        return None
    share = 1 - AlphaSplit.of(config.confidence).screen
    scr = Screen.draw(binding, spec, dense, config.screen, config.seed, share, config.screen_looks)
    object.__setattr__(scr, "confirmation", draw_confirmation(dense, binding, spec, config, say))
    return scr


def draw_confirmation(dense: Any, binding: Binding, spec: Any, config: Any,
                      say: Any = lambda _m: None) -> Confirmation | None:
    """The schedule's confirmation for a `DeepConfig`: `config.confirm` fresh points for
    `config.seed` at `config.margin` (None when it or the screen is off, or the spec has no
    requirement); the dense policy runs them when the first level reaches it."""
    if not (config.confirm and config.screen and spec.requirements):
        return None
    say(f"deep: a level passing the screen is adopted only if, on {config.confirm} fresh points, its "
        f"violations exceed the dense policy's by at most {config.margin * 100:g} percentage points")
    return Confirmation(binding, spec, dense, config.confirm, config.seed, config.margin)


def describe(chk: ScreenCheck | ConfirmCheck) -> str:
    """One line for a log: the counts, the points and the test (or the margin)."""
    if isinstance(chk, ConfirmCheck):
        return (f"confirmation {chk.violations} vs dense {chk.dense_violations} of {chk.points} fresh points "
                f"({'within' if chk.passed else 'beyond'} the margin {chk.margin * 100:g} points)")
    return (f"screen {chk.violations} vs dense {chk.dense_violations} of {chk.points} (p = {chk.p_value:.3g}"
            f"{'' if chk.passed else f' < {chk.alpha:.3g}, worse'})")


def _violated(binding: Binding, spec: Any, points: tuple[Any, ...], policy: Any) -> tuple[bool, ...]:
    return tuple(not ok for ok in safe_on(policy, binding, spec, points, record_states=False)[0])
