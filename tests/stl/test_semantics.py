"""Hand-checked robustness per operator, trace-end rules, length-1 traces, +-inf."""
from __future__ import annotations

import numpy as np
import pytest

import stl

INF = np.inf
H = "env E-v0\nsignal x = obs[0]\nsignal y = obs[1]\n"
X = np.array([1.0, -2.0, 3.0, 0.5])
Y = np.array([0.0, 1.0, -1.0, 2.0])


def rob(text: str, x=X, y=Y) -> np.ndarray:
    req = stl.parse(H + f"req a: {text}\n").requirements["a"]
    return stl.robustness(req, {"x": np.asarray(x, float), "y": np.asarray(y, float)})


def ref(text: str, x=X, y=Y) -> np.ndarray:
    req = stl.parse(H + f"req a: {text}\n").requirements["a"]
    return stl.rtamt_robustness(req, {"x": np.asarray(x, float), "y": np.asarray(y, float)})


# expected values worked out by hand from the definitions in stl/robustness.py
CASES = [
    ("x >= 0", [1, -2, 3, 0.5]),
    ("x > 0", [1, -2, 3, 0.5]),
    ("x <= 0", [-1, 2, -3, -0.5]),
    ("x < 0", [-1, 2, -3, -0.5]),
    ("x == y", [-1, -3, -4, -1.5]),
    ("x != y", [1, 3, 4, 1.5]),
    ("true", [INF] * 4),
    ("false", [-INF] * 4),
    ("not x >= 0", [-1, 2, -3, -0.5]),
    ("x >= 0 and y >= 0", [0, -2, -1, 0.5]),
    ("x >= 0 or y >= 0", [1, 1, 3, 2]),
    ("x >= 0 implies y >= 0", [0, 2, -1, 2]),
    ("x >= 0 iff y >= 0", [-1, -3, -4, -1.5]),
    ("x >= 0 xor y >= 0", [1, 3, 4, 1.5]),
    ("always x >= 0", [-2, -2, 0.5, 0.5]),
    ("eventually x >= 0", [3, 3, 3, 0.5]),
    ("historically x >= 0", [1, -2, -2, -2]),
    ("once x >= 0", [1, 1, 3, 3]),
    ("next x >= 0", [-2, 3, 0.5, INF]),
    ("prev x >= 0", [INF, 1, -2, 3]),
    ("x >= 0 until y >= 0", [1, 1, 2, 2]),
    ("x >= 0 since y >= 0", [0, 1, 1, 2]),
    # bounded windows cut at the trace end; empty windows give the identity
    ("always[1:2] x >= 0", [-2, 0.5, 0.5, INF]),
    ("eventually[2:10] x >= 0", [3, 0.5, -INF, -INF]),
    ("always[2:10] x >= 0", [0.5, 0.5, INF, INF]),
    ("always[4:9] x >= 0", [INF] * 4),
    ("once[1:2] x >= 0", [-INF, 1, 1, 3]),
    ("historically[1:2] x >= 0", [INF, 1, -2, -2]),
    ("x >= 0 until[1:2] y >= 0", [1, -2, 2, -INF]),
    ("x >= 0 since[1:2] y >= 0", [-INF, -2, 1, 0.5]),
    ("x >= 0 until[0:0] y >= 0", [0, 1, -1, 2]),
    ("always[1:inf] x >= 0", [-2, 0.5, 0.5, INF]),
    ("eventually[3:inf] x >= 0", [0.5, -INF, -INF, -INF]),
    ("once[2:inf] x >= 0", [-INF, -INF, 1, 1]),
    ("x >= 0 until[1:inf] y >= 0", [1, -2, 2, -INF]),
    ("x >= 0 since[2:inf] y >= 0", [-INF, -INF, -2, 0.5]),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_hand_checked(text, expected):
    np.testing.assert_array_equal(rob(text), np.array(expected, float))


@pytest.mark.parametrize("text, expected", CASES)
def test_hand_checked_cases_agree_with_rtamt(text, expected):
    np.testing.assert_array_equal(ref(text), np.array(expected, float))


LENGTH_ONE = [
    ("x >= 0", [2.0]), ("always x >= 0", [2.0]), ("eventually x >= 0", [2.0]),
    ("next x >= 0", [INF]), ("prev x >= 0", [INF]),
    ("always[0:5] x >= 0", [2.0]), ("always[1:5] x >= 0", [INF]),
    ("eventually[1:5] x >= 0", [-INF]), ("once[1:5] x >= 0", [-INF]),
    ("historically[1:5] x >= 0", [INF]), ("historically x >= 0", [2.0]),
    ("x >= 0 until y >= 0", [-1.0]), ("x >= 0 until[1:3] y >= 0", [-INF]),
    ("x >= 0 since y >= 0", [-1.0]), ("x >= 0 since[0:3] y >= 0", [-1.0]),
]


@pytest.mark.parametrize("text, expected", LENGTH_ONE)
def test_length_one_traces(text, expected):
    """RTAMT refuses 1-sample traces; we apply the same window rules with T = 1."""
    np.testing.assert_array_equal(rob(text, [2.0], [-1.0]), expected)


def test_length_one_matches_rtamt_on_the_first_sample_of_a_padded_trace():
    # for past operators and for windows that stay inside [0, 0], a length-1 trace is
    # the first sample of any longer trace
    for text in ["historically x >= 0", "once[0:3] x >= 0", "x >= 0 since y >= 0", "x > y"]:
        one = rob(text, [2.0], [-1.0])
        longer = ref(text, [2.0, 5.0, -7.0], [-1.0, 0.0, 3.0])
        assert one[0] == longer[0]


def test_rtamt_refuses_length_one():
    with pytest.raises(stl.SignalError, match="length 1"):
        ref("x >= 0", [1.0], [1.0])


def test_xor_iff_of_equal_infinities_are_zero():
    # RTAMT computes inf - inf = NaN here; we give the value of |p - q| at p = q
    np.testing.assert_array_equal(rob("true xor true"), [0.0] * 4)
    np.testing.assert_array_equal(rob("false iff false"), [0.0] * 4)
    np.testing.assert_array_equal(rob("true xor false"), [INF] * 4)
    np.testing.assert_array_equal(rob("true iff false"), [-INF] * 4)


def test_division_by_zero_follows_ieee():
    with np.errstate(all="raise"):
        out = rob("x / 0 > 0", [1.0, -1.0, 0.0], [0.0] * 3)
    assert out[0] == INF and out[1] == -INF and np.isnan(out[2])


def test_batched_shapes_and_first_column():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 40)), rng.normal(size=(5, 40))
    req = stl.parse(H + "req a: always (x > -3 implies eventually[0:4] y > 0)\n").requirements["a"]
    out = stl.robustness(req, {"x": x, "y": y})
    assert out.shape == (5, 40)
    np.testing.assert_array_equal(out, stl.rtamt_robustness(req, {"x": x, "y": y}))
    # inputs are not modified and extra signals are ignored
    x0 = x.copy()
    stl.robustness(req, {"x": x, "y": y, "unused": np.zeros(3)})
    np.testing.assert_array_equal(x, x0)


def test_signal_errors():
    req = stl.parse(H + "req a: x > y\n").requirements["a"]
    with pytest.raises(stl.SignalError, match="missing signal 'y'"):
        stl.robustness(req, {"x": np.zeros(3)})
    with pytest.raises(stl.SignalError, match="shape"):
        stl.robustness(req, {"x": np.zeros(3), "y": np.zeros(4)})
    with pytest.raises(stl.SignalError, match="shape"):
        stl.robustness(req, {"x": np.zeros((2, 2, 2)), "y": np.zeros((2, 2, 2))})
    with pytest.raises(ValueError):  # SignalError is a ValueError
        stl.robustness(req, {"x": np.zeros(0), "y": np.zeros(0)})


def test_predicates_evaluate_their_sides():
    req = stl.parse(H + "const m = 2\nreq a: always (abs(m * x) <= 4) and y > x - 1\n"
                    ).requirements["a"]
    p, q = stl.predicates(req)
    assert (p.text, p.op, q.text, q.op) == ("abs(m * x) <= 4", "<=", "y > x - 1", ">")
    assert (p.left_text, p.right_text, q.left_text, q.right_text) == ("abs(m * x)", "4", "y",
                                                                      "x - 1")
    sig = {"x": X, "y": Y}
    np.testing.assert_array_equal(stl.evaluate_expr(p.left, sig), np.abs(2 * X))
    np.testing.assert_array_equal(stl.evaluate_expr(p.right, sig), np.full(4, 4.0))
    np.testing.assert_array_equal(stl.evaluate_expr(q.right, sig), X - 1)
    np.testing.assert_array_equal(stl.robustness(p, sig), 4 - np.abs(2 * X))
    np.testing.assert_array_equal(stl.robustness(p.node, sig), 4 - np.abs(2 * X))
    assert p.signal_names == frozenset({"x"})


def test_sign_of_robustness_is_the_boolean_verdict():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 30))
    req = stl.parse(H + "req a: always (abs(x) <= 2.5)\n").requirements["a"]
    verdict = np.all(np.abs(x) <= 2.5, axis=1)
    r = stl.robustness(req, {"x": x})[:, 0]
    assert np.all((r >= 0) == verdict)


def test_long_windows_are_cheap_and_exact():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 400)), rng.normal(size=(3, 400))
    for text in ["x > 0 until[5:300] y > 1", "always[3:250] x < 2", "x > -2 since[0:399] y > 2"]:
        req = stl.parse(H + f"req a: {text}\n").requirements["a"]
        ours = stl.robustness(req, {"x": x, "y": y})
        # brute force from the definitions
        T = x.shape[-1]
        lo, hi = (5, 300) if "until" in text else (3, 250) if "always" in text else (0, 399)
        brute = np.empty_like(ours)
        for i in range(T):
            if "until" in text:
                vals = [np.minimum(y[:, t] - 1, (x[:, i:t]).min(axis=1) if t > i else INF)
                        for t in range(i + lo, min(i + hi, T - 1) + 1)]
                brute[:, i] = np.max(vals, axis=0) if vals else -INF
            elif "always" in text:
                w = x[:, i + lo: min(i + hi, T - 1) + 1]
                brute[:, i] = (2 - w).min(axis=1) if w.shape[1] else INF
            else:
                vals = [np.minimum(y[:, t] - 2, (x[:, t + 1: i + 1] + 2).min(axis=1)
                                   if t < i else INF)
                        for t in range(max(i - hi, 0), i - lo + 1)]
                brute[:, i] = np.max(vals, axis=0) if vals else -INF
        np.testing.assert_array_equal(ours, brute)
