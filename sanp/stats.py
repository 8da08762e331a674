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
from collections.abc import Callable
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

    return _first_deciding(decides, max(dense[1], sparse[1]))


def _first_deciding(decides: Callable[[int], bool], start: int) -> int | None:
    """The smallest n above `start` with `decides(n)`, by doubling from 2 x start and then
    bisecting (None beyond MAX_POINTS); `decides` is taken as monotone up to rounding."""
    lo, hi = start, 2 * start
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


NI_TEST = ("one-sided Farrington-Manning score test for a difference of two proportions with a margin "
           "(statsmodels.stats.proportion.test_proportions_2indep, method='score', compare='diff')")
DEFAULT_MARGIN = 0.005
"""The default non-inferiority margin: half a percentage point of absolute violation rate.
Small enough that a sparse policy with 10 violations in 2000 points where the dense one has
none (the excess measured on LunarLander in issue 27) is not called as safe; large enough
that 0 violations on each policy's 1000 held-out points (the default) show it."""

NIVerdict = Literal["non-inferior", "inferior", "undecided"]


@dataclass(frozen=True)
class NonInferiority:
    """The sparse policy's violation rate against the dense one's plus a margin: H0 "the
    sparse rate exceeds the dense rate by at least `margin`", rejected at `alpha`."""

    test: str
    margin: float
    """Absolute margin on the violation rate (0.005: half a percentage point)."""
    confidence: float
    """The run's confidence (1 - the whole run's error)."""
    alpha: float
    """This test's share of the run's error (see sanp.method.alpha)."""
    dense: tuple[int, int]
    """(violations, points) of the dense policy."""
    sparse: tuple[int, int]
    p_value: float
    """p of H0 "sparse - dense >= margin" (small: non-inferior)."""
    p_inferior: float
    """p of H0 "sparse - dense <= margin" (small: the sparse policy is worse by more than the margin)."""
    difference_upper: float
    """One-sided (1 - alpha) upper score bound on sparse rate - dense rate."""
    verdict: NIVerdict
    points_to_decide: int | None
    """Undecided only: about how many points per policy, at the observed rates, would show
    non-inferiority (None: none would, or more than MAX_POINTS)."""
    points: str
    """Where the points came from (which stream, which reset seeds)."""
    text: str
    """The statement, as the report and the console print it."""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["dense"] = {"violations": self.dense[0], "points": self.dense[1]}
        d["sparse"] = {"violations": self.sparse[0], "points": self.sparse[1]}
        return d


def check_margin(margin: float) -> float:
    if not 0 < margin < 1:
        raise OptionError(f"the non-inferiority margin must be in (0, 1) (an absolute violation rate, "
                          f"e.g. 0.005 for half a percentage point); got {margin}")
    return float(margin)


def _ni_p(dense: tuple[int, int], sparse: tuple[int, int], margin: float, alternative: str) -> float:
    import warnings

    from statsmodels.stats.proportion import test_proportions_2indep

    with warnings.catch_warnings():  # statsmodels also computes ratios, which divide by zero at 0 counts
        warnings.simplefilter("ignore", RuntimeWarning)
        res = test_proportions_2indep(sparse[0], sparse[1], dense[0], dense[1], value=margin, method="score",
                                      compare="diff", alternative=alternative)
    p = float(res.pvalue)
    return 1.0 if math.isnan(p) else min(max(p, 0.0), 1.0)


def _diff_upper(dense: tuple[int, int], sparse: tuple[int, int], alpha: float) -> float:
    """The score test inverted: the smallest difference d that the one-sided test of
    H0 "sparse - dense >= d" rejects at `alpha` (statsmodels' own score interval fails to
    converge at zero counts). The p-value falls as d grows, so bisection finds it."""
    lo = sparse[0] / sparse[1] - dense[0] / dense[1]
    hi = 1.0 - dense[0] / dense[1]
    if hi - lo <= 1e-12 or _ni_p(dense, sparse, hi - 1e-9, "smaller") >= alpha:
        return hi
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _ni_p(dense, sparse, mid, "smaller") < alpha else (mid, hi)
    return hi


def noninferiority(dense: tuple[int, int], sparse: tuple[int, int], margin: float, alpha: float,
                   confidence: float, points: str = "") -> NonInferiority:
    """Is the sparse policy's violation rate at most the dense one's + `margin`? `dense`
    and `sparse` are (violations, points) on separate uniform samples (or the same points:
    positively correlated outcomes make the independent-samples test conservative).

    The score test (Farrington-Manning, the test regulators name for non-inferiority of
    proportions) keeps its level with zero counts, where a Wald test degenerates, and
    needs no exact-unconditional search over a nuisance parameter (scipy's Barnard and
    Boschloo tests take no margin). "non-inferior": H0 "sparse - dense >= margin" is
    rejected at `alpha`; "inferior": H0 "sparse - dense <= margin" is; else "undecided",
    with the points per policy that would decide at the observed rates.

    Example:
        >>> noninferiority((0, 1000), (0, 1000), 0.005, 0.04, 0.95).verdict
        'non-inferior'
    """
    check_margin(margin)
    check_confidence(confidence)
    if not 0 < alpha < 1:
        raise OptionError(f"alpha must be in (0, 1), got {alpha}")
    if min(dense[1], sparse[1]) <= 0:
        raise OptionError("the non-inferiority test needs points on both policies")
    p = _ni_p(dense, sparse, margin, "smaller")
    p_inf = _ni_p(dense, sparse, margin, "larger")
    upper = _diff_upper(dense, sparse, alpha)
    rd, rs = dense[0] / dense[1], sparse[0] / sparse[1]
    counts = (f"sparse {sparse[0]} of {sparse[1]} ({rs:.2%}), dense {dense[0]} of {dense[1]} ({rd:.2%})"
              + (f"; {points}" if points else ""))
    how = (f"{NI_TEST.split(' (')[0]} at alpha = {alpha:.3g}, this test's share of the run's "
           f"{1 - confidence:.3g}")
    eps = f"{margin * 100:g} percentage points"
    need = None
    if p < alpha:
        verdict: NIVerdict = "non-inferior"
        text = (f"non-inferior: with {_percent(confidence)} confidence the sparse policy's violation rate is at "
                f"most the dense one's + {eps} (upper bound on the difference {upper * 100:+.2f} points; "
                f"{how}; p = {p:.3g}); violations {counts}")
    elif p_inf < alpha:
        verdict = "inferior"
        text = (f"inferior: the sparse policy's violation rate exceeds the dense one's + {eps} ({how}; "
                f"p = {p_inf:.3g}); violations {counts}")
    else:
        verdict = "undecided"
        need = _points_to_show(rd, rs, margin, alpha, max(dense[1], sparse[1]))
        more = (f"about {need} uniform points per policy at these rates would show non-inferiority "
                f"({need - min(dense[1], sparse[1])} more than the fewer run)"
                if need else f"at these rates (observed difference {(rs - rd) * 100:+.2f} points, margin "
                f"{margin * 100:g}) no number of points would show non-inferiority")
        text = (f"undecided: the points cannot tell whether the sparse policy's violation rate is within "
                f"{eps} of the dense one's ({how}; p = {p:.3g} >= {alpha:.3g}); {more}; violations {counts}")
    return NonInferiority(NI_TEST, margin, confidence, alpha, tuple(dense), tuple(sparse), p, p_inf, upper,
                          verdict, need, points, text)


def _points_to_show(rd: float, rs: float, margin: float, alpha: float, start: int) -> int | None:
    """The smallest n per policy at which the observed rates, scaled to n points, show
    non-inferiority (None when the observed difference is not below the margin, or beyond
    MAX_POINTS). Doubling, then bisection, as `_points_to_decide`."""
    if rs - rd >= margin:
        return None

    def decides(n: int) -> bool:
        return _ni_p((round(rd * n), n), (round(rs * n), n), margin, "smaller") < alpha

    return _first_deciding(decides, start)
