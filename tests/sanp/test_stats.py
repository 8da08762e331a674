"""Violation-rate bounds, sample sizes and the dense-vs-sparse test equal scipy.stats'."""
from __future__ import annotations

import math

import pytest
from scipy import stats as st

from sanp.errors import OptionError
from sanp.stats import compare_rates, points_for_rate, rate_bound, upper_bound


@pytest.mark.parametrize("k, n, c", [(0, 1000, 0.95), (3, 1000, 0.95), (0, 59, 0.99), (7, 20, 0.9), (5, 5, 0.95)])
def test_upper_bound_is_scipys_exact_clopper_pearson(k, n, c):
    expected = st.binomtest(k, n, alternative="less").proportion_ci(confidence_level=c, method="exact").high
    assert upper_bound(k, n, c) == expected
    b = rate_bound("x", k, n, c)
    assert (b.violations, b.points, b.confidence, b.upper_bound) == (k, n, c, expected)
    assert "Clopper-Pearson" in b.method


def test_the_sentence_states_count_points_rate_and_confidence():
    assert rate_bound("held-out", 0, 1000, 0.95).text == (
        "0 violations in 1000 uniform episodes: violation rate < 0.30% (95% confidence)")
    assert rate_bound("x", 1, 200, 0.99).text.startswith("1 violation in 200 uniform episodes: violation rate < ")
    assert "any rate up to 100%" in rate_bound("x", 4, 4, 0.95).text


@pytest.mark.parametrize("eps, c", [(0.05, 0.95), (0.003, 0.95), (0.01, 0.99), (0.001, 0.9)])
def test_points_for_a_target_rate_is_the_closed_form(eps, c):
    n = points_for_rate(eps, c)
    assert n == math.ceil(math.log(1 - c) / math.log(1 - eps))
    assert upper_bound(0, n, c) <= eps < upper_bound(0, n - 1, c)


def test_out_of_range_levels_are_refused():
    with pytest.raises(OptionError, match="confidence"):
        upper_bound(0, 10, 1.5)
    with pytest.raises(OptionError, match="target rate"):
        points_for_rate(0.0, 0.95)


def test_comparison_verdicts_rest_on_a_one_sided_fisher_test():
    worse = compare_rates((0, 1000), (12, 1000), 0.95)
    assert worse.verdict == "worse"
    assert worse.p_value == st.fisher_exact([[12, 988], [0, 1000]], alternative="greater").pvalue < 0.05
    fewer = compare_rates((3, 1000), (1, 1000), 0.95)
    assert fewer.verdict == "no worse" and fewer.points_to_decide is None
    equal = compare_rates((0, 1000), (0, 1000), 0.95)
    assert equal.verdict == "no worse" and equal.p_value == 1.0


def test_an_undecided_excess_is_inconclusive_and_says_how_many_points_would_decide():
    cmp = compare_rates((0, 1000), (1, 1000), 0.95)
    assert cmp.verdict == "inconclusive" and cmp.p_value == 0.5
    n = cmp.points_to_decide
    assert n is not None and n > 1000 and f"about {n} points" in cmp.text
    # at that many points, the same rates (counts scaled) are significantly worse
    k = round(n / 1000)
    assert st.fisher_exact([[k, n - k], [0, n]], alternative="greater").pvalue < 0.05
