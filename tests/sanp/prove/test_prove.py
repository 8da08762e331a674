"""Proofs on the hand-built 2-2-2 ReLU network (conftest), checked against exhaustive
evaluation on a fine grid; ties; the differential property; a timeout."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from prove_nets import grid, mlp, needs_marabou

from sanp.extras import available
from sanp.prove.bab import ProveConfig, prove_property
from sanp.prove.encode import judge, judge_batch
from sanp.prove.marabou import MarabouVerifier
from sanp.prove.properties import ActionIs, Agrees, Box, Linear, OutputBound, Property
from sanp.prove.run import EXIT_PROVED, EXIT_REFUTED, EXIT_UNKNOWN, exit_code, prove_all
from sanp.prove.verifier import QueryResult
from sanp.runtime import deployed

pytestmark = needs_marabou
V = MarabouVerifier() if available("maraboupy") else None  # collected, then skipped
CFG = ProveConfig(timeout=30, max_depth=6)


def holds_on_grid(prop, policy, reference=None, n=401):
    """Per grid point of the region: does the property hold (onnxruntime, float32)?"""
    pts = grid(prop.region.lo, prop.region.hi, n)
    ref = None if reference is None else deployed(reference)
    _, holds, margin, _, _ = judge_batch(prop, pts, deployed(policy), ref)
    return pts, holds, margin


def test_proved_where_the_grid_shows_a_margin(net222):
    # x1 >= 0.5: y0 - y1 >= 0.25 on paper (min at (0, 0.5) and (1, 0.5))
    prop = Property("a", Box((0.0, 0.5), (1.0, 1.0)), ActionIs(0))
    _, holds, margin = holds_on_grid(prop, net222)
    assert holds.all() and margin.min() == pytest.approx(0.25)
    r = prove_property(prop, net222, verifier=V, config=CFG)
    assert r.verdict == "proved" and r.queries == 1 and not r.split
    assert r.fractions()["proved"] == 1.0


def test_refuted_with_a_real_counterexample_and_a_consistent_split(net222):
    prop = Property("b", Box((0.0, 0.0), (1.0, 1.0)), ActionIs(0))
    pts, holds, _ = holds_on_grid(prop, net222)
    assert not holds.all()  # e.g. (1, 0): y0 - y1 = -1.25
    r = prove_property(prop, net222, verifier=V, config=CFG)
    assert r.verdict == "refuted" and r.counterexamples
    for c in r.counterexamples:  # each re-checked in float32 through onnxruntime
        j = judge(prop, np.array(c.obs, np.float32), deployed(net222))
        assert j.in_scope and not j.holds and c.margin < 0 and prop.region.contains(c.obs)
    for leaf in r.leaves:  # no proved box holds a violating grid point
        inside = np.all((pts >= leaf.box.lo_array) & (pts <= leaf.box.hi_array), axis=1)
        if leaf.status == "proved":
            assert holds[inside].all()
    fr = r.fractions()
    assert 0.3 < fr["proved"] <= holds.mean() + 0.01
    assert fr["refuted"] > 0 and sum(fr.values()) == pytest.approx(1.0)


def test_assumptions_restrict_the_region(net222):
    # with x1 >= x0, h1 = 0 and y0 - y1 = x0 + x1 - 0.25 >= 0.25 when x0 + x1 >= 0.5
    box = Box((0.0, 0.0), (1.0, 1.0))
    cond = (Linear(((1, 1.0), (0, -1.0)), ">=", 0.0), Linear(((0, 1.0), (1, 1.0)), ">=", 0.5))
    prop = Property("c", box, ActionIs(0), cond)
    _, holds, _ = holds_on_grid(prop, net222)
    assert holds.all() and not holds_on_grid(Property("c", box, ActionIs(0)), net222)[1].all()
    assert prove_property(prop, net222, verifier=V, config=CFG).verdict == "proved"


def test_output_bounds(net222):
    box = Box((0.0, 0.0), (1.0, 1.0))  # y0 = h0 - h1 reaches 2 at (1, 1)
    assert prove_property(Property("hi", box, OutputBound(0, "<=", 2.5)), net222, verifier=V, config=CFG).verdict == "proved"
    r = prove_property(Property("lo", box, OutputBound(0, "<=", 1.5)), net222, verifier=V, config=CFG)
    assert r.verdict == "refuted" and max(c.values[0] for c in r.counterexamples) > 1.5


def test_a_tie_counts_as_what_onnxruntime_says(net222):
    # On this box y0 - y1 = x0 + x1 - 0.25 >= 0, zero only at the corner (0, 0.25):
    # there y0 == y1 == 0.25 exactly and argmax picks action 0, so the property holds
    # in float32 everywhere, while the verifier's closed query finds the tie.
    prop = Property("tie", Box((0.0, 0.25), (0.25, 0.5)), ActionIs(0))
    corner = judge(prop, np.array([0.0, 0.25], np.float32), deployed(net222))
    assert corner.values == (0.25, 0.25) and corner.holds and corner.margin == 0.0
    _, holds, _ = holds_on_grid(prop, net222)
    assert holds.all()
    r = prove_property(prop, net222, verifier=V, config=CFG)
    assert r.verdict == "unknown" and r.reason.startswith("tie") and not r.counterexamples
    unknown = [leaf for leaf in r.leaves if leaf.status == "unknown"]
    assert unknown and all(leaf.box.contains([0.0, 0.25]) for leaf in unknown)
    assert r.fractions()["proved"] > 0.98
    # the other side of the tie: action 1 fails there with margin 0
    other = judge(Property("t1", prop.region, ActionIs(1)), np.array([0.0, 0.25], np.float32), deployed(net222))
    assert not other.holds and other.margin == 0.0


def test_differential_discrete(net222, net222_shifted):
    # the reference adds 0.125 to y1: both still pick action 0 where y0 - y1 >= 0.25
    a = Property("same", Box((0.0, 0.5), (1.0, 1.0)), Agrees())
    assert prove_property(a, net222_shifted, net222, verifier=V, config=CFG).verdict == "proved"
    b = Property("differs", Box((0.0, 0.0), (1.0, 1.0)), Agrees())
    _, holds, _ = holds_on_grid(b, net222_shifted, net222)
    assert not holds.all()
    r = prove_property(b, net222_shifted, net222, verifier=V, config=CFG)
    assert r.verdict == "refuted"
    c = r.counterexamples[0]
    assert np.argmax(c.values) != np.argmax(c.reference_values)
    assert r.fractions()["proved"] <= holds.mean() + 0.01


def test_differential_continuous_within_eps(net222):
    lo, hi = [-1.0, -1.0], [1.0, 1.0]
    pol = mlp([[[1.0, 1.0], [1.0, -1.0]], [[1.0, -1.0], [0.0, 1.0]]], [[0, 0], [0, 0.25]],
              kind="continuous", low=lo, high=hi)
    ref = mlp([[[1.0, 1.0], [1.0, -1.0]], [[1.0, -1.0], [0.0, 1.0]]], [[0, 0], [0.0625, 0.25]],
              kind="continuous", low=lo, high=hi)
    box = Box((0.0, 0.0), (1.0, 1.0))  # outputs differ by 0.0625 before clipping, at most
    assert prove_property(Property("w", box, Agrees(0.07)), pol, ref, verifier=V, config=CFG).verdict == "proved"
    r = prove_property(Property("n", box, Agrees(0.05)), pol, ref, verifier=V, config=CFG)
    assert r.verdict == "refuted" and r.counterexamples[0].margin == pytest.approx(0.05 - 0.0625, abs=1e-6)


class _TimesOut:
    name = "never"

    def find_violation(self, query, timeout):
        return QueryResult("timeout", None, timeout)


def test_a_timeout_gives_unknown(net222):
    prop = Property("a", Box((0.0, 0.5), (1.0, 1.0)), ActionIs(0))
    r = prove_property(prop, net222, verifier=_TimesOut(), config=ProveConfig(timeout=1, split=False))
    assert r.verdict == "unknown" and r.reason == "timeout"
    assert exit_code([r]) == EXIT_UNKNOWN


def test_marabou_timeout_gives_unknown():
    # a random 8-100-100-100-2 network and a copy with every weight scaled by 1 + 1e-4
    # agree within 0.5 (their outputs differ by about 1e-4), which Marabou cannot show
    # in a second: the verdict is unknown, never proved or refuted
    rng = np.random.default_rng(0)
    sizes = [8, 100, 100, 100, 2]
    ws = [rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in itertools.pairwise(sizes)]
    bs = [rng.normal(0, 0.1, b) for b in sizes[1:]]
    net = mlp(ws, bs, kind="continuous", low=[-1, -1], high=[1, 1])
    copy = mlp([w * (1 + 1e-4) for w in ws], bs, kind="continuous", low=[-1, -1], high=[1, 1])
    prop = Property("t", Box((-1.0,) * 8, (1.0,) * 8), Agrees(0.5))
    r = prove_property(prop, net, copy, verifier=V, config=ProveConfig(timeout=1, split=False))
    assert r.verdict == "unknown" and r.reason == "timeout" and r.seconds < 10


def test_identical_units_are_shared_so_a_network_agrees_with_itself(net222):
    # both copies become one set of variables: |a - b| >= eps is infeasible as written
    pol = mlp([[[1.0, 1.0], [1.0, -1.0]], [[1.0, -1.0], [0.0, 1.0]]], [[0, 0], [0, 0.25]],
              kind="continuous", low=[-1, -1], high=[1, 1])
    r = prove_property(Property("self", Box((0.0, 0.0), (1.0, 1.0)), Agrees(0.01)), pol, pol, verifier=V, config=CFG)
    assert r.verdict == "proved" and r.queries == 1


def test_prove_all_exit_codes(net222):
    proved = Property("p", Box((0.0, 0.5), (1.0, 1.0)), ActionIs(0))
    refuted = Property("r", Box((0.0, 0.0), (1.0, 1.0)), ActionIs(0))
    cfg = ProveConfig(timeout=10, split=False)
    assert exit_code(prove_all([proved], net222, config=cfg)) == EXIT_PROVED
    results = prove_all([proved, refuted], net222, config=cfg, workers=2)
    assert [r.prop.name for r in results] == ["p", "r"]
    assert exit_code(results) == EXIT_REFUTED
