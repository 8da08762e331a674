"""The batched evaluator equals RTAMT (the reference) on random formulas and traces."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from stl_strategies import formulas, spec_text, traces

import stl
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
