"""The language surface: statements, operators, precedence, names, API shapes."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import stl
from stl import ast as A

ROOT = Path(__file__).parents[2]
H = "env E-v0\nsignal x = obs[0]\nsignal y = obs[1]\nsignal u = action\nsignal r = reward\n"


def formula(text: str) -> A.Node:
    return stl.parse(H + f"req a: {text}\n").requirements["a"].formula


def test_stl_is_this_distribution():
    assert Path(stl.__file__).resolve().parent == ROOT / "stl"
    assert hasattr(stl, "SpecFile") and hasattr(stl, "rtamt_robustness")


def test_cartpole_spec():
    spec = stl.load(ROOT / "specs" / "cartpole.stl")
    assert spec.env_id == "CartPole-v1" and spec.env_kwargs == {}
    assert spec.horizon == 200 and spec.reward_threshold == 195.0
    assert list(spec.signals) == ["x", "x_dot", "theta", "theta_dot"]
    assert spec.signals["theta"] == stl.Signal("theta", "obs", 2)
    assert spec.consts == {"cart_mass": 1.0}
    assert spec.search == {n: (-0.05, 0.05) for n in ["x", "x_dot", "theta", "theta_dot"]}
    assert list(spec.requirements) == ["position", "momentum", "angle"]
    assert spec.requirements["momentum"].signal_names == frozenset({"x_dot"})
    assert stl.format_node(spec.requirements["angle"].formula) == "always (abs(theta) <= 0.2)"
    assert spec.sha256 == hashlib.sha256(spec.text.encode()).hexdigest()
    assert spec.positions["angle"] == (23, 5)
    assert spec.positions["search:x"] == (14, 8)
    assert spec.positions["x"] == (9, 8)
    assert spec.source.endswith("cartpole.stl")


def test_env_kwargs_and_sources():
    spec = stl.parse(
        'env LunarLander-v3 (continuous=true, gravity=-10.0, wind=false, n=3, mode="a\\"b",)\n'
        "signal a0 = action[0]\nsignal a = action\nsignal rew = reward\n"
        "search gravity in [-11, -9]\nreq ok: a0 <= 1 and a >= 0 and rew > -100\n"
    )
    assert spec.env_kwargs == {"continuous": True, "gravity": -10.0, "wind": False, "n": 3,
                               "mode": 'a"b'}
    assert isinstance(spec.env_kwargs["n"], int) and isinstance(spec.env_kwargs["gravity"], float)
    assert spec.signals["a0"] == stl.Signal("a0", "action", 0)
    assert spec.signals["a"] == stl.Signal("a", "action", None)
    assert spec.signals["rew"] == stl.Signal("rew", "reward", None)
    assert spec.search == {"gravity": (-11.0, -9.0)}  # search names need not be signals
    assert spec.horizon is None and spec.reward_threshold is None
    assert stl.parse(stl.to_text(spec)) == spec


def test_comments_blank_lines_and_multiline_formulas():
    spec = stl.parse(
        "# leading comment\n\n  env E-v0   # trailing\n\nsignal x = obs[0]\n"
        "req a: always (   # a comment inside a formula\n"
        "    abs(x) <= 1\n"
        "    and eventually[0:5] (x > 0)\n"
        ")\n# end\n"
    )
    assert stl.format_node(spec.requirements["a"].formula) == "always (abs(x) <= 1 and eventually[0:5] (x > 0))"


@pytest.mark.parametrize("text, canonical", [
    ("not x > 0 and y > 0", "not (x > 0) and y > 0"),
    ("x > 0 or y > 0 and u > 0", "x > 0 or y > 0 and u > 0"),
    ("(x > 0 or y > 0) and u > 0", "(x > 0 or y > 0) and u > 0"),
    ("x > 0 -> y > 0 -> u > 0", "x > 0 implies y > 0 implies u > 0"),
    ("(x > 0 -> y > 0) -> u > 0", "(x > 0 implies y > 0) implies u > 0"),
    ("x > 0 <-> y > 0", "x > 0 iff y > 0"),
    ("x > 0 xor y > 0 or u > 0", "x > 0 xor y > 0 or u > 0"),
    ("G[0:5] x > 0", "always[0:5] (x > 0)"),
    ("F x > 0", "eventually (x > 0)"),
    ("H[1:inf] x > 0", "historically[1:inf] (x > 0)"),
    ("O x > 0", "once (x > 0)"),
    ("x > 0 U[0:3] y > 0", "x > 0 until[0:3] y > 0"),
    ("x > 0 S y > 0", "x > 0 since y > 0"),
    ("next prev x > 0", "next prev (x > 0)"),
    ("x - y - 1 > 0", "x - y - 1 > 0"),
    ("x - (y - 1) > 0", "x - (y - 1) > 0"),
    ("x / 2 * 3 >= -1e-3", "x / 2 * 3 >= -0.001"),
    ("-(x + 1) == 2.50", "-(x + 1) == 2.5"),
    ("x != 1.5e3", "x != 1500"),
    ("true and not false", "true and not false"),
])
def test_precedence_and_canonical_text(text, canonical):
    f = formula(text)
    assert stl.format_node(f) == canonical
    assert formula(canonical) == f


def test_implies_groups_right_and_until_binds_tighter_than_and():
    f = formula("x > 0 implies y > 0 implies u > 0")
    assert isinstance(f, A.Binary) and f.op == "implies" and f.right.op == "implies"
    g = formula("x > 0 and y > 0 until u > 0")
    assert g.op == "and" and isinstance(g.right, A.TemporalBinary)
    h = formula("x > 0 until y > 0 until u > 0")
    assert isinstance(h.right, A.TemporalBinary)


def test_requirement_references_are_inlined_by_name():
    spec = stl.parse(H + "req a: x > 0\nreq b: always (a or y < 1)\nreq c: not b\n")
    b, c = spec.requirements["b"], spec.requirements["c"]
    assert stl.format_node(c.formula) == "not b"
    assert c.signal_names == frozenset({"x", "y"})
    ref = c.formula.operand
    assert isinstance(ref, A.ReqRef) and ref.formula == b.formula
    assert "sig_x" in stl.to_rtamt(c) and "sig_y" in stl.to_rtamt(c)
    assert [p.text for p in stl.predicates(c)] == ["x > 0", "y < 1"]


def test_consts_are_inlined_but_print_by_name():
    spec = stl.parse(H + "const lim = -2.5\nreq a: x >= lim\n")
    f = spec.requirements["a"].formula
    assert f.right == A.ConstRef("lim", -2.5)
    assert stl.format_node(f) == "x >= lim"
    assert stl.to_rtamt(spec.requirements["a"]) == "(sig_x >= (0 - 2.5))"


def test_intervals():
    assert formula("always[0:inf] x > 0").interval == A.Interval(0, None)
    assert formula("always[3:3] x > 0").interval == A.Interval(3, 3)
    assert formula("always[2.0:4] x > 0").interval == A.Interval(2, 4)


def test_deep_nesting_is_a_spec_error_not_a_recursion_error():
    for text in ["not " * 3000 + "x > 0",
                 " and ".join(["x > 0"] * 1500),
                 "-" * 3000 + "x > 0",
                 "abs(" * 1000 + "x" + ")" * 1000 + " > 0"]:
        with pytest.raises(stl.SpecError, match="nested too deeply"):
            stl.parse(H + f"req a: {text}\n")
    # requirement references count towards the depth
    chain = "".join(f"req r{i}: not not not not not not not not not not r{i - 1}\n"
                    for i in range(1, 30))
    with pytest.raises(stl.SpecError, match="nested too deeply"):
        stl.parse(H + "req r0: x > 0\n" + chain)
    # parentheses alone do not nest the AST
    assert stl.format_node(formula("(" * 3000 + "x > 0" + ")" * 3000)) == "x > 0"


def test_moderate_nesting_works_everywhere():
    import numpy as np

    spec = stl.parse(H + "req a: " + " and ".join(["x > 0"] * 150) + "\n")
    req = spec.requirements["a"]
    assert stl.parse(stl.to_text(spec)) == spec
    assert stl.robustness(req, {"x": np.zeros(3)}).shape == (3,)


def test_load_errors():
    with pytest.raises(stl.SpecError, match="not found") as info:
        stl.load("/nonexistent/spec.stl")
    assert info.value.line == 0 and str(info.value).startswith("/nonexistent/spec.stl: ")
    with pytest.raises(stl.SpecError, match="directory"):
        stl.load(ROOT)


def test_error_pretty_form():
    with pytest.raises(stl.SpecError) as info:
        stl.parse(H + "req a: always (abs(yy) <= 1)\n", "demo.stl")
    err = info.value
    assert str(err) == "demo.stl:6:20: unknown name 'yy'"
    assert err.hint == "did you mean 'y'?"
    assert err.pretty() == (
        "demo.stl:6:20: unknown name 'yy'\n"
        "    req a: always (abs(yy) <= 1)\n"
        "                       ^\n"
        "hint: did you mean 'y'?"
    )


def test_specfile_is_frozen_and_equal_ignores_positions():
    a = stl.parse(H + "req a: x > 0\n")
    b = stl.parse("\n\n" + H + "req a:    x>0   # same\n", "other.stl")
    assert a == b and hash(a) == hash(b) and a.positions != b.positions
    with pytest.raises(AttributeError):
        a.env_id = "x"


def test_stl_imports_neither_sanp_torch_nor_gymnasium():
    import subprocess
    import sys

    code = ("import sys, stl; stl.parse('env E\\nsignal x = obs[0]\\nreq a: x > 0\\n');"
            "bad = [m for m in ('sanp', 'torch', 'gymnasium', 'rtamt') if m in sys.modules];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
