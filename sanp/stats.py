"""What a sample of uniformly drawn episodes supports: an exact upper bound on the
violation rate, the sample size that a target rate needs, and one-sided exact tests of
two policies' rates (Fisher's on separate samples, McNemar's on the same points). All
numbers come from scipy.stats; nothing here is hand-written statistics.

A falsifier's (BO's) counterexamples are evidence that violations exist; they carry no
rate, because BO does not draw its points uniformly. Only uniform samples get a bound.

Example:
    >>> b = rate_bound("held-out", violations=0, points=1000, confidence=0.95)
    >>> b.text
    '0 violations in 1000 uniform episodes: violation rate < 0.30% (95% confidence)'
    >>> points_for_rate(0.003, 0.95)
    998
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scipy import stats

from sanp.errors import OptionError

BOUND_METHOD = "Clopper-Pearson exact one-sided upper bound (scipy.stats.binomtest, method='exact')"
TEST = ("one-sided Fisher exact test (scipy.stats.fisher_exact, alternative='greater') of "
        "H0: the sparse policy's violation rate is not above the dense policy's")
MAX_POINTS = 10**9
"""Beyond this many points per policy a difference is reported as undecidable in practice."""


def check_confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise OptionError(f"confidence must be in (0, 1), e.g. 0.95; got {confidence}")
    return float(confidence)


def upper_bound(violations: int, points: int, confidence: float) -> float:
    """The exact (Clopper-Pearson) one-sided upper confidence bound on the violation rate."""
    if points <= 0:
        return 1.0
    ci = stats.binomtest(int(violations), int(points), alternative="less").proportion_ci(
        confidence_level=check_confidence(confidence), method="exact")
    return float(ci.high)


def points_for_rate(target: float, confidence: float) -> int:
    """The smallest number of uniform episodes, all without violation, whose upper bound
    is at most `target`: ceil(ln(1 - c) / ln(1 - target))."""
    if not 0 < target < 1:
        raise OptionError(f"target rate must be in (0, 1), e.g. 0.001; got {target}")
    n = math.ceil(math.log1p(-check_confidence(confidence)) / math.log1p(-target))
    # The closed form and scipy's bound can disagree in the last bit at the boundary.
    while n > 1 and upper_bound(0, n - 1, confidence) <= target:
        n -= 1
    while upper_bound(0, n, confidence) > target:
        n += 1
    return n


@dataclass(frozen=True)
class RateBound:
    """A violation count among uniformly drawn episodes and what it bounds."""

    label: str
    violations: int
    points: int
    confidence: float
    upper_bound: float
    method: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def rate_bound(label: str, violations: int, points: int, confidence: float) -> RateBound:
    """The bound on `violations` in `points` uniform episodes, with its sentence."""
    ub = upper_bound(violations, points, confidence)
    noun = "violation" if violations == 1 else "violations"
    rate = "any rate up to 100%" if ub >= 1 else f"violation rate < {_percent_up(ub)}"
    text = f"{violations} {noun} in {points} uniform episodes: {rate} ({_percent(confidence)} confidence)"
    return RateBound(label, int(violations), int(points), float(confidence), ub, BOUND_METHOD, text)


Verdict = Literal["no worse", "worse", "inconclusive"]


@dataclass(frozen=True)
class Comparison:
    """The sparse policy's held-out violation rate against the dense policy's."""

    test: str
    p_value: float
    verdict: Verdict
    points_to_decide: int | None
    """Inconclusive only: about how many points per policy, at the observed rates, the
    test would need to call the sparse policy worse (None: more than MAX_POINTS)."""
    text: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def compare_rates(dense: tuple[int, int], sparse: tuple[int, int], confidence: float) -> Comparison:
    """Is the sparse policy's violation rate above the dense one's? `dense` and `sparse`
    are (violations, points).

    "worse": the one-sided test rejects H0 at level 1 - confidence. "no worse": it does
    not, and the sparse policy's observed rate is not above the dense one's.
    "inconclusive": the sparse policy's observed rate is higher, but not significantly.
    """
    alpha = 1 - check_confidence(confidence)
    p = _p_value(dense, sparse)
    counts = f"held-out uniform violations sparse {sparse[0]}/{sparse[1]}, dense {dense[0]}/{dense[1]}"
    if p < alpha:
        return Comparison(TEST, p, "worse", None,
                          f"{counts}: the sparse policy violates more often (one-sided Fisher exact "
                          f"test, p = {p:.3g} < {alpha:.3g})")
    if sparse[0] * dense[1] <= dense[0] * sparse[1]:
        return Comparison(TEST, p, "no worse", None,
                          f"{counts}: the sparse policy's rate is not above the dense one's "
                          f"(one-sided Fisher exact test of 'sparse worse': p = {p:.3g})")
    need = _points_to_decide(dense, sparse, alpha)
    more = f"about {need} points per policy at these rates" if need else f"more than {MAX_POINTS} points"
    return Comparison(TEST, p, "inconclusive", need,
                      f"{counts}: more violations on the sparse policy, but too few points to tell "
                      f"(one-sided Fisher exact test, p = {p:.3g} >= {alpha:.3g}); {more} would decide")


def paired_worse_p(only_sparse: int, only_dense: int) -> float:
    """One-sided exact McNemar test of 'the sparse policy violates more often' when both
    ran on the same points: only the discordant points count (`only_sparse` violated by
    the sparse policy alone, `only_dense` by the dense one alone), binomial with p = 1/2
    under H0 (scipy.stats.binomtest). 1.0 when no point is discordant.

    Example:
        >>> round(paired_worse_p(5, 0), 4)
        0.0312
    """
    if only_sparse < 0 or only_dense < 0:
        raise OptionError(f"discordant counts must be >= 0, got {only_sparse}, {only_dense}")
    n = only_sparse + only_dense
    return 1.0 if n == 0 else float(stats.binomtest(only_sparse, n, 0.5, alternative="greater").pvalue)


def _p_value(dense: tuple[int, int], sparse: tuple[int, int]) -> float:
    table = [[sparse[0], sparse[1] - sparse[0]], [dense[0], dense[1] - dense[0]]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)


def _points_to_decide(dense: tuple[int, int], sparse: tuple[int, int], alpha: float) -> int | None:
    """The smallest n (per policy) at which the observed rates, scaled to n points, give
    p < alpha. The p-value falls as n grows at fixed rates except for the rounding of the
    scaled counts, so the doubling-then-bisection finds the first such n up to that."""
    rd, rs = dense[0] / dense[1], sparse[0] / sparse[1]

    def decides(n: int) -> bool:
        return _p_value((round(rd * n), n), (round(rs * n), n)) < alpha

    lo = max(dense[1], sparse[1])
    hi = 2 * lo
    while not decides(hi):
        lo, hi = hi, 2 * hi
        if hi > MAX_POINTS:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if decides(mid) else (mid, hi)
    return hi


def _percent(x: float) -> str:
    return f"{x * 100:g}%"


def _percent_up(x: float) -> str:
    """x as a percentage with two significant digits (at least two decimals), rounded up
    so that "< value" stays true."""
    pct = x * 100
    decimals = max(2, 1 - math.floor(math.log10(pct))) if pct > 0 else 2
    scale = 10**decimals
    return f"{math.ceil(pct * scale - 1e-9) / scale:.{decimals}f}%"
