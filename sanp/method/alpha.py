"""How a prune run spends its error: 1 - confidence, once, over every test whose
outcome the run acts on or reports.

The held-out non-inferiority test is the verdict a user signs off, so it gets most of
the error; the deep schedule's tests only decide which level to keep (a test that
wrongly rejects a level costs compression, never safety: the held-out test, on fresh
points, judges whatever the schedule kept). Bonferroni: the shares add up to the run's
error, so the chance that any of these tests errs is at most 1 - confidence.

    held-out non-inferiority test   80% of the error (0.04 at 95% confidence)
    safety screen                   10%, split equally over its looks, per policy screened
    confirmations of adopted levels 10%, the j-th confirmation (j = 1, 2, ...) at 10% / 2**j

The refinement rounds' falsifier runs no test (its counterexamples are evidence that
violations exist, not a rate), so it spends nothing.

Example:
    >>> a = AlphaSplit.of(0.95)
    >>> round(a.heldout, 4), round(a.screen, 4), round(a.confirmation(1), 5)
    (0.04, 0.005, 0.0025)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sanp.stats import check_confidence

HELDOUT_SHARE = 0.8
SCREEN_SHARE = 0.1
CONFIRM_SHARE = 0.1


@dataclass(frozen=True)
class AlphaSplit:
    """The run's error and each test's share of it."""

    total: float
    """1 - confidence."""
    heldout: float
    """The held-out non-inferiority test (the verdict)."""
    screen: float
    """The safety screen, over all its looks at one policy."""
    confirmations: float
    """All confirmations of the schedule's adopted levels together."""

    @classmethod
    def of(cls, confidence: float) -> AlphaSplit:
        a = 1 - check_confidence(confidence)
        return cls(a, HELDOUT_SHARE * a, SCREEN_SHARE * a, CONFIRM_SHARE * a)

    def confirmation(self, j: int) -> float:
        """The level of the j-th confirmation (1-based): the shares sum below `confirmations`
        however many levels the schedule confirms."""
        if j < 1:
            raise ValueError(f"confirmations count from 1, got {j}")
        return self.confirmations / 2**j

    def text(self, looks: int | None = None) -> str:
        """The split in one sentence, for the report."""
        per_look = "" if looks is None else f", {self.screen / looks:.3g} at each of its {looks} looks"
        return (f"alpha {self.total:.3g} split as: held-out non-inferiority test {self.heldout:.3g}; "
                f"safety screen {self.screen:.3g} per policy{per_look}; confirmations of adopted levels "
                f"{self.confirmations:.3g} in all (the j-th at {self.confirmations:.3g} / 2^j) (Bonferroni)")

    def to_json(self, looks: int | None = None) -> dict[str, Any]:
        return {**asdict(self), "text": self.text(looks)}
