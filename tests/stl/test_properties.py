"""`region` and `prop` statements: parsing, the round trip, and errors at line:col."""
from __future__ import annotations

import pytest

import stl
from stl import ast as A

H = ("env CartPole-v1\nsignal x = obs[0]\nsignal x_dot = obs[1]\nsignal theta = obs[2]\n"
     "signal theta_dot = obs[3]\nsignal push = action\nsignal r = reward\nconst lim = 2.4\n"
     "req safe: always (abs(x) <= lim)\n"
     "region lean_right: x in [0.5, 2.4], theta in [0.05, 0.2]\nregion domain: visited\n")
# line numbers of statements appended to H
L = H.count("\n") + 1

PROPS = [
    "prop push_right over lean_right: theta_dot >= 0.5 and x_dot > -lim implies action == 1",
    "prop by_name over lean_right: theta_dot >= 0.5 implies push == 1",
    "prop bounded over domain: action[0] <= 0.9",
    "prop q_bound over domain: output[0] <= 7",
    "prop margin over domain: 2 * theta - x / 4 <= 1 implies output[1] - output[0] >= -lim",
    "prop same over domain: agrees",
    "prop close over domain: agrees within 0.05",
]


def test_regions_and_props_parse_into_data():
    spec = stl.parse(H + "\n".join(PROPS) + "\n")
    assert spec.regions["lean_right"] == A.Region("lean_right",
                                                  {"x": (0.5, 2.4), "theta": (0.05, 0.2)})
    assert spec.regions["domain"].visited and spec.regions["domain"].bounds == {}
    p = spec.properties["push_right"]
    assert p.region == "lean_right" and len(p.assumptions) == 2
    assert p.assumptions[1].right == A.Neg(A.ConstRef("lim", 2.4))  # consts inlined
    assert p.conclusion == A.Compare("==", A.ActionRef(None), A.Num(1.0))
    assert spec.properties["bounded"].conclusion.left == A.ActionRef(0)
    assert spec.properties["q_bound"].conclusion.left == A.OutputRef(0)
    assert spec.properties["same"].conclusion == A.Agrees(None)
    assert spec.properties["close"].conclusion == A.Agrees(0.05)
    assert spec.positions["close"] == (L + 6, 6)


def test_print_parse_round_trip():
    spec = stl.parse(H + "\n".join(PROPS) + "\n")
    text = stl.to_text(spec)
    assert "\n".join(PROPS[:3]) in text and PROPS[-1] in text
    again = stl.parse(text)
    assert again == spec and stl.to_text(again) == text
    for p in spec.properties.values():
        assert stl.to_text(p) in text


BAD = [
    ("prop p over lean_right: x * theta >= 1 implies action == 1", 25,
     r"`x \* theta` is not linear"),
    ("prop p over lean_right: abs(x) <= 1 implies action == 1", 25, "`abs.x.` is not linear"),
    ("prop p over lean_right: always (x <= 1) implies action == 1", 25,
     "temporal operator 'always' in a prop"),
    ("prop p over lean_right: push == 1 implies action == 1", 25,
     "'push' is bound to action, not to an observation"),
    ("prop p over lean_right: r >= 1 implies action == 1", 25, "'r' is bound to reward"),
    ("prop p over lean_right: x <= 1 or x >= 2 implies action == 1", 25,
     "'or' in a prop's assumptions"),
    ("prop p over lean_right: x <= 1 implies theta >= 0", 40, "'theta' is not the action"),
    ("prop p over lean_right: x <= 1 implies 1 >= 0", 40, "must name the action"),
    ("prop p over lean_right: action[1.5] <= 1", 32, "action index must be a whole number"),
    ("prop p over lean_rigth: action == 1", 13, "unknown region 'lean_rigth'"),
    ("prop p over domain: agrees within -1", 35, "must not be negative"),
    ("req q: always (action[0] <= 1)", 16, "`action.0.` can only be used in the conclusion"),
    ("req q: output[1] <= 1", 8, "`output.1.` can only be used in the conclusion"),
    ("region box: push in [0, 1]", 13, "'push' is bound to action"),
    ("region box: x in [0, 1], x in [2, 3]", 26, "'x' is bounded twice"),
    ("region box: x in [1, 0]", 19, "empty range"),
    ("region box: thta in [0, 1]", 13, "unknown signal 'thta'"),
    ("region safe: visited", 8, "duplicate name 'safe'"),
]


@pytest.mark.parametrize(("line", "column", "message"), BAD, ids=[b[0] for b in BAD])
def test_errors_point_at_the_offending_token(line, column, message):
    with pytest.raises(stl.SpecError, match=message) as info:
        stl.parse(H + line + "\n", "p.stl")
    assert (info.value.line, info.value.column) == (L, column), str(info.value)


@pytest.mark.parametrize("word", ["output", "over", "visited", "agrees", "region", "prop"])
def test_the_new_keywords_are_reserved(word):
    with pytest.raises(stl.SpecError, match=f"'{word}' is a reserved word") as info:
        stl.parse(f"env E\nsignal {word} = obs[0]\nreq a: true\n")
    assert (info.value.line, info.value.column) == (2, 8)


def test_a_spec_may_hold_props_only_and_props_are_not_evaluated_as_formulas():
    spec = stl.parse("env E\nsignal x = obs[0]\nregion b: x in [0, 1]\n"
                     "prop p over b: action == 0\n")
    assert not spec.requirements and list(spec.properties) == ["p"]
    with pytest.raises(TypeError, match="prop"):
        stl.robustness(spec.properties["p"].conclusion, {"x": [0.0, 1.0]})


def test_linear_constraints_equal_the_comparisons_they_come_from():
    import numpy as np

    spec = stl.parse(H + "\n".join(PROPS) + "\n")
    rng = np.random.default_rng(0)
    sig = {k: rng.normal(size=50) for k in ("x", "x_dot", "theta", "theta_dot")}
    for prop in spec.properties.values():
        for cmp in prop.assumptions:
            coeffs, op, bound = stl.linear_constraint(cmp)
            assert op == cmp.op
            lhs = sum(c * sig[v] for v, c in coeffs.items())
            expected = stl.evaluate_expr(cmp.left, sig) - stl.evaluate_expr(cmp.right, sig)
            np.testing.assert_allclose(lhs - bound, expected, rtol=0, atol=1e-12)
    margin = spec.properties["margin"]
    assert stl.linear_constraint(margin.assumptions[0]) == ({"theta": 2.0, "x": -0.25}, "<=", 1.0)
    assert stl.linear_constraint(margin.conclusion) == ({"output[1]": 1.0, "output[0]": -1.0},
                                                       ">=", -2.4)
    assert stl.linear_constraint(spec.properties["by_name"].conclusion) == ({"push": 1.0}, "==",
                                                                           1.0)
    with pytest.raises(ValueError, match="not linear"):
        stl.linear_form(stl.parse(H + "req q: x * x > 0\n").requirements["q"].formula.left)
