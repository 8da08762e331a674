"""Re-run recorded counterexamples: the same point (searched values, reset seed,
disturbance pieces), the policy run again, the robustness computed again and compared
with what the run recorded.

A point fixes an episode completely (`sanp.envs.binding`), so on the same versions the
replayed robustness is bit for bit the recorded one; `tolerance` allows for the float
rounding of another CPU or onnxruntime build (relative to max(1, |recorded|)).

Example:
    >>> rec = Recorded("#1", {"theta": 0.04, "reset_seed": 7}, ("upright",), {"upright": -0.01}, -0.01)
    >>> [r.reproduced for r in replay(actor, binding, spec, [rec])]   # doctest: +SKIP
    [True]
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sanp.falsify.run import critical_step, score
from sanp.rollout import Trajectory, run_batch
from sanp.types import Actor, Point

DEFAULT_TOLERANCE = 1e-6
"""Relative difference (to max(1, |recorded|)) under which a replayed robustness matches."""


@dataclass(frozen=True)
class Recorded:
    """One counterexample as a report recorded it."""

    label: str
    """How the report numbers it: `#3` (verify), `round 2 #1` (prune)."""
    point: Point
    violated: tuple[str, ...]
    robustness: Mapping[str, float]
    """Per requirement, where the report kept it (verify); empty for a prune round's."""
    min_robustness: float
    """The robustness of its worst violated requirement."""


@dataclass(frozen=True, eq=False)
class Replayed:
    """A recorded counterexample run again."""

    recorded: Recorded
    robustness: dict[str, float]
    """The replay's robustness of every requirement the record names."""
    min_robustness: float
    """The replay's robustness of the worst of the recorded violated requirements."""
    step: int
    trajectory: Trajectory
    tolerance: float

    @property
    def violates(self) -> bool:
        """Every requirement the record says was violated is violated again."""
        return all(not self.robustness[n] >= 0 for n in self.recorded.violated)

    @property
    def difference(self) -> float:
        """The largest |replayed - recorded| over the recorded values (0: bit-identical;
        inf where one is non-finite and the other is not)."""
        pairs = [(self.min_robustness, self.recorded.min_robustness)]
        pairs += [(self.robustness[n], v) for n, v in self.recorded.robustness.items() if n in self.robustness]
        return max(_gap(a, b) for a, b in pairs)

    @property
    def identical(self) -> bool:
        return self.difference == 0.0

    @property
    def matches(self) -> bool:
        """Within the tolerance of the recorded values."""
        return self.difference <= self.tolerance * max(1.0, abs(_finite_or_zero(self.recorded.min_robustness)))

    @property
    def reproduced(self) -> bool:
        """The violation replays: violated again, with the recorded robustness."""
        return self.violates and self.matches


def _gap(a: float, b: float) -> float:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    if not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b)


def _finite_or_zero(v: float) -> float:
    return v if math.isfinite(v) else 0.0


def replay(actor: Actor, binding: Any, spec: Any, recorded: Sequence[Recorded],
           tolerance: float = DEFAULT_TOLERANCE) -> list[Replayed]:
    """Run `actor` from every recorded point (one batch: spread over the backend of an
    enclosing `sanp.backends.use`) and score the requirements each record names."""
    trajs = run_batch(actor, binding, [dict(r.point) for r in recorded])
    out = []
    for rec, traj in zip(recorded, trajs):
        names = list(dict.fromkeys([*rec.robustness, *rec.violated]))
        rob = score(spec, names, traj)
        worst = min(rec.violated, key=lambda n: rob[n])
        out.append(Replayed(rec, rob, rob[worst], critical_step(spec, worst, traj), traj, tolerance))
    return out
