"""stl.predicates and stl.evaluate_expr: a report draws both sides of every comparison."""
from __future__ import annotations

import numpy as np
import pytest

import stl

H = "env E-v0\nsignal x = obs[0]\nsignal y = obs[1]\nconst lim = 2.5\nconst k = -1\n"


def test_sides_of_comparisons_with_consts_evaluate_over_batches():
    spec = stl.parse(H + "req a: x > 0\nreq b: always (abs(k * x) <= lim) or a\n")
    preds = stl.predicates(spec.requirements["b"])
    # the referenced requirement's atom comes after b's own
    assert [p.text for p in preds] == ["abs(k * x) <= lim", "x > 0"]
    p = preds[0]
    assert (p.left_text, p.op, p.right_text) == ("abs(k * x)", "<=", "lim")
    x = np.random.default_rng(0).normal(size=(3, 7))
    sig = {"x": x, "y": np.zeros((3, 7))}
    np.testing.assert_array_equal(stl.evaluate_expr(p.left, sig), np.abs(-x))
    right = stl.evaluate_expr(p.right, sig)
    assert right.shape == (3, 7) and np.all(right == 2.5)
    # the sides give the atom's robustness (<=: right - left)
    np.testing.assert_array_equal(stl.robustness(p, sig),
                                  stl.evaluate_expr(p.right, sig) - stl.evaluate_expr(p.left, sig))


def test_wrong_node_kinds_are_refused_with_a_pointer():
    req = stl.parse(H + "req a: x > y + 1\n").requirements["a"]
    [p] = stl.predicates(req)
    with pytest.raises(TypeError, match="evaluate_expr"):
        stl.robustness(p.left, {"x": np.zeros(2), "y": np.zeros(2)})
    with pytest.raises(TypeError, match="expression"):
        stl.evaluate_expr(p.node, {"x": np.zeros(2), "y": np.zeros(2)})
    with pytest.raises(TypeError, match="Requirement"):
        stl.predicates(p.left)


def test_to_text_of_a_requirement_and_a_spec():
    spec = stl.parse(H + "req a: always[0:5] x >= k\n")
    assert stl.to_text(spec.requirements["a"]) == "req a: always[0:5] (x >= k)"
    assert stl.to_text(spec).endswith("req a: always[0:5] (x >= k)\n")
    with pytest.raises(TypeError):
        stl.to_text(spec.requirements["a"].formula)
