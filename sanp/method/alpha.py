"""How a prune run spends its error: 1 - confidence, once, over every test whose
outcome the run acts on or reports.

The held-out non-inferiority test is the verdict a user signs off, so it gets most of
the error; the deep schedule's tests only decide which level to keep (a test that
wrongly rejects a level costs compression, never safety: the held-out test, on fresh
points, judges whatever the schedule kept). Bonferroni: the shares add up to the run's
error, so the chance that any of these tests errs is at most 1 - confidence.

    held-out non-inferiority test   90% of the error (0.045 at 95% confidence)
    safety screen                   10%, split equally over its looks, per policy screened
    confirmation of adopted levels  nothing: it is a decision rule, not a test (below)
    refinement rounds               nothing: the falsifier's counterexamples are evidence
                                    that violations exist, not a rate; no test is run

The confirmation (`sanp.method.screen.Confirmation`) rejects a level whenever its
observed violation rate on fresh points exceeds the dense one's + the margin: the point
estimate, stricter than any one-sided test of "excess <= margin" at a level below 1/2.
It can only reject more levels than a test would, which costs compression, never the
held-out verdict's error.

Example:
    >>> a = AlphaSplit.of(0.95)
    >>> round(a.heldout, 4), round(a.screen, 4)
    (0.045, 0.005)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sanp.stats import check_confidence

HELDOUT_SHARE = 0.9
SCREEN_SHARE = 0.1


@dataclass(frozen=True)
class AlphaSplit:
    """The run's error and each test's share of it."""

    total: float
    """1 - confidence."""
    heldout: float
    """The held-out non-inferiority test (the verdict)."""
    screen: float
    """The safety screen, over all its looks at one policy."""

    @classmethod
    def of(cls, confidence: float) -> AlphaSplit:
        a = 1 - check_confidence(confidence)
        return cls(a, HELDOUT_SHARE * a, SCREEN_SHARE * a)

    def text(self, looks: int | None = None) -> str:
        """The split in one sentence, for the report."""
        per_look = "" if looks is None else f", {self.screen / looks:.3g} at each of its {looks} looks"
        return (f"alpha {self.total:.3g} split as: held-out non-inferiority test {self.heldout:.3g}, "
                f"safety screen {self.screen:.3g} per policy{per_look} (Bonferroni); the confirmation of "
                "adopted levels (observed rate at most the dense one's + the margin) and the refinement "
                "rounds run no test and spend none")

    def to_json(self, looks: int | None = None) -> dict[str, Any]:
        return {**asdict(self), "text": self.text(looks)}
