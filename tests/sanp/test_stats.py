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


def test_noninferiority_is_statsmodels_score_test_at_the_margin():
    from statsmodels.stats.proportion import test_proportions_2indep

    from sanp.stats import noninferiority

    ni = noninferiority((0, 1000), (1, 1000), 0.005, 0.045, 0.95, "held-out")
    with pytest.warns(RuntimeWarning):  # statsmodels' ratio statistics divide by the dense count, 0
        ref = test_proportions_2indep(1, 1000, 0, 1000, value=0.005, method="score", compare="diff",
                                      alternative="smaller")
    assert ni.p_value == pytest.approx(ref.pvalue) and ni.verdict == "non-inferior" and ni.points_to_decide is None
    assert ni.difference_upper < 0.005 and ni.text.startswith("non-inferior: with 95% confidence")
    assert "sparse 1 of 1000" in ni.text and "dense 0 of 1000" in ni.text and ni.text.endswith("held-out")
    worse = noninferiority((0, 100), (30, 100), 0.005, 0.045, 0.95)
    assert worse.verdict == "inferior" and worse.p_inferior < 0.045


def test_an_undecided_test_says_how_many_points_would_decide():
    from sanp.stats import _ni_p, noninferiority

    ni = noninferiority((0, 1000), (2, 1000), 0.005, 0.045, 0.95)
    n = ni.points_to_decide
    assert ni.verdict == "undecided" and n > 1000 and f"about {n} uniform points per policy" in ni.text
    # at n the scaled rates are shown non-inferior, one point fewer they are not
    assert _ni_p((0, n), (round(0.002 * n), n), 0.005, "smaller") < 0.045
    assert _ni_p((0, n - 1), (round(0.002 * (n - 1)), n - 1), 0.005, "smaller") >= 0.045
    # an observed excess at the margin: no number of points would show it
    at = noninferiority((0, 2000), (10, 2000), 0.005, 0.045, 0.95)
    assert at.verdict == "undecided" and at.points_to_decide is None and "no number of points" in at.text
    with pytest.raises(OptionError, match="margin must be in"):
        noninferiority((0, 10), (0, 10), 1.5, 0.045, 0.95)


def test_the_runs_error_is_split_once():
    from sanp.method.alpha import AlphaSplit

    a = AlphaSplit.of(0.95)
    assert a.heldout + a.screen == pytest.approx(a.total) == pytest.approx(0.05)
    assert a.text(4).startswith("alpha 0.05 split as: held-out non-inferiority test 0.045, safety screen 0.005 "
                                "per policy, 0.00125 at each of its 4 looks")
