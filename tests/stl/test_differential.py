"""The batched evaluator equals RTAMT (the reference) on random formulas and traces."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from stl_strategies import formulas, spec_text, traces

import stl
from stl import windows
from stl.rtamt_backend import rtamt_evaluate

SETTINGS = settings(
    max_examples=350, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def assert_same(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    inf_ref = np.isinf(ref)
    np.testing.assert_array_equal(np.isinf(ours), inf_ref)
    np.testing.assert_array_equal(ours[inf_ref], ref[inf_ref])
    np.testing.assert_allclose(ours[~inf_ref], ref[~inf_ref], rtol=0, atol=1e-9)


@SETTINGS
@given(formulas(), traces())
def test_batched_equals_rtamt(formula, signals):
    spec = stl.parse(spec_text(formula))
    req = spec.requirements["r"]
    assert req.formula == formula  # the printed formula parses back to the same AST
    ref, tainted = rtamt_evaluate(req, signals)
    # RTAMT computes inf - inf = NaN (xor/iff/==/!= on infinite operands) and its
    # min/max then keep or drop the NaN by argument order; we define those cases instead.
    event(f"nan-tainted: {tainted}")
    assume(not tainted)
    ours = stl.robustness(req, signals)
    assert_same(ours, ref)
    assert_same(stl.rtamt_robustness(req, signals), ref)


@pytest.mark.parametrize("n", [1, 4])
def test_batched_rows_equal_single_traces(n):
    rng = np.random.default_rng(n)
    spec = stl.parse(
        spec_text("always[2:9] (x > 0 implies eventually[0:3] y <= c) and (x > 0 until[1:4] z > 1)")
    )
    req = spec.requirements["r"]
    sig = {k: rng.normal(size=(n, 30)) for k in "xyz"}
    batch = stl.robustness(req, sig)
    for i in range(n):
        row = stl.robustness(req, {k: v[i] for k, v in sig.items()})
        np.testing.assert_array_equal(batch[i], row)


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(formulas(), st.integers(2, 60), st.integers(0, 2**32 - 1))
def test_large_batches_equal_single_traces(formula, T, seed):
    """Batches of >= 32 traces take the row-loop code paths; single traces take
    ufunc.accumulate: both must agree, and agree with RTAMT."""
    rng = np.random.default_rng(seed)
    sig = {k: rng.integers(-3, 4, size=(40, T)).astype(float) + rng.normal(0, 0.1, (40, T))
           * (k != "z") for k in ("x", "y", "z")}
    req = stl.parse(spec_text(formula)).requirements["r"]
    batch = stl.robustness(req, sig)
    for i in (0, 17, 39):
        row = stl.robustness(req, {k: v[i] for k, v in sig.items()})
        np.testing.assert_array_equal(batch[i], row)
    ref, tainted = rtamt_evaluate(req, {k: v[:2] for k, v in sig.items()})
    if not tainted:
        assert_same(batch[:2], ref)


# ---------------------------------------------------------------- time 0 only
@SETTINGS
@given(formulas(), traces())
def test_time0_only_equals_full_evaluation_and_rtamt(formula, signals):
    req = stl.parse(spec_text(formula)).requirements["r"]
    at0 = stl.robustness_at0(req, signals)
    full = stl.robustness(req, signals)
    assert at0.shape == full.shape[:-1]
    np.testing.assert_array_equal(at0, full[..., 0])  # the same operations: bit for bit
    ref, tainted = rtamt_evaluate(req, signals)
    if not tainted:
        assert_same(at0, ref[..., 0])


@contextlib.contextmanager
def thresholds(direct_until: int, loop_min_batch: int):
    """Force the evaluator's other code paths (blocks of until, row loops) on short traces."""
    saved = windows._DIRECT_UNTIL, windows._LOOP_MIN_BATCH
    windows._DIRECT_UNTIL, windows._LOOP_MIN_BATCH = direct_until, loop_min_batch
    try:
        yield
    finally:
        windows._DIRECT_UNTIL, windows._LOOP_MIN_BATCH = saved


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(formulas(), traces(), st.sampled_from([(2, 10**9), (3, 1), (1, 10**9)]))
def test_every_code_path_gives_the_same_values(formula, signals, limits):
    req = stl.parse(spec_text(formula)).requirements["r"]
    expected = stl.robustness(req, signals)
    with thresholds(*limits):
        np.testing.assert_array_equal(stl.robustness(req, signals), expected)
        np.testing.assert_array_equal(stl.robustness_at0(req, signals), expected[..., 0])


LONG = [
    "abs(x) < 2.5 until y > 2", "x > -2.5 since z > 2", "always[0:700] x < 3",
    "eventually[300:1500] (y > 2.5 and z < 0)", "always[0:40] (x > -3 until y > 2.8)",
    "once (historically[0:200] x > -2.9)", "always (x > -3 implies eventually[0:900] y > 2)",
]


@pytest.mark.parametrize("text", LONG)
@pytest.mark.parametrize("batch", [(), (3,)])
def test_long_traces_wide_windows_and_unbounded_until(text, batch):
    """Traces of 2000 steps: blocks of until, wide windows, and time 0 alone equal RTAMT."""
    rng = np.random.default_rng(len(text))
    sig = {k: rng.normal(0.0, 1.2, size=batch + (2000,)) for k in "xyz"}
    req = stl.parse(spec_text(text)).requirements["r"]
    ref = stl.rtamt_robustness(req, sig)
    full = stl.robustness(req, sig)
    assert_same(full, ref)
    np.testing.assert_array_equal(stl.robustness_at0(req, sig), full[..., 0])


def test_the_support_of_time_0_is_read_and_no_more():
    req = stl.parse(spec_text("always[0:100] (eventually[0:20] (x > 0.5 and y < 0))")
                    ).requirements["r"]
    x = np.random.default_rng(0).normal(size=10_000)
    y = -np.abs(x)
    at0 = stl.robustness_at0(req, {"x": x, "y": y})
    # samples past step 120 cannot change the value: poison them
    x2, y2 = x.copy(), y.copy()
    x2[121:], y2[121:] = np.nan, np.nan
    assert stl.robustness_at0(req, {"x": x2, "y": y2}) == at0
    x2[120] = np.nan
    assert np.isnan(stl.robustness_at0(req, {"x": x2, "y": y2}))
