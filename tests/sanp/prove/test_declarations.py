"""Properties from declarations (the JSON / spec statement shape), the visited region,
and bad input: one clear error each."""
from __future__ import annotations

import numpy as np
import pytest

from sanp.envs import bind
from sanp.prove.declarations import compile_declarations, load_json
from sanp.prove.domain import Resolver, visited_box
from sanp.prove.properties import (
    ActionBound,
    ActionIs,
    Agrees,
    Box,
    Linear,
    OutputBound,
    PropertyError,
    validate,
)


@pytest.fixture(scope="module")
def cartpole(cartpole_spec_module):
    spec = cartpole_spec_module
    binding = bind(spec)
    dom = Box((-0.2, -0.5, -0.06, -0.7), (0.2, 0.5, 0.06, 0.7))
    return spec, binding, Resolver(spec, binding, 4, visited=lambda: dom)


@pytest.fixture(scope="module")
def cartpole_spec_module():
    from prove_nets import ROOT

    import stl

    return stl.load(ROOT / "specs/cartpole.stl")


def test_the_syntax_examples_compile(cartpole):
    _, _, res = cartpole
    regions = {"lean_right": {"x": [0.5, 2.4], "theta": [0.05, 0.2]}, "domain": "visited"}
    props = [
        {"name": "push_right", "over": "lean_right", "assume": [{"terms": {"theta_dot": 1}, "op": ">=", "rhs": 0.5}],
         "then": {"kind": "action", "op": "==", "value": 1}},
        {"name": "q_bound", "over": "domain", "then": {"kind": "output", "index": 0, "op": "<=", "value": 7.0}},
        {"name": "same_as_dense", "over": "domain", "then": {"kind": "agrees"}},
        {"name": "close", "over": "domain", "then": {"kind": "agrees", "within": 0.05}},
        {"name": "bounded", "over": "domain", "then": {"kind": "action", "index": 0, "op": "<=", "value": 0.9}},
    ]
    out = compile_declarations(regions, props, res)
    push = out[0]
    # x and theta from the region; x_dot and theta_dot are unbounded in CartPole's
    # observation space, so they come from the visited region
    assert push.region.lo == (0.5, -0.5, 0.05, -0.7) and push.region.hi == (2.4, 0.5, 0.2, 0.7)
    assert push.assumptions == (Linear(((3, 1.0),), ">=", 0.5),) and push.conclusion == ActionIs(1)
    assert push.text() == "push_right: theta_dot >= 0.5 implies action == 1"
    assert out[1].conclusion == OutputBound(0, "<=", 7.0) and out[1].region.lo == (-0.2, -0.5, -0.06, -0.7)
    assert [p.conclusion for p in out[2:]] == [Agrees(), Agrees(0.05), ActionBound(0, "<=", 0.9)]


@pytest.mark.parametrize("regions, props, message", [
    ({"r": {"thta": [0, 1]}}, [{"name": "p", "over": "r", "then": {"kind": "agrees"}}], "did you mean 'theta'"),
    ({"r": {"x": [1, 0]}}, [{"name": "p", "over": "r", "then": {"kind": "agrees"}}], "exceeds the upper"),
    ({"r": {"x": [0, 1]}}, [{"name": "p", "over": "s", "then": {"kind": "agrees"}}], "unknown region 's'"),
    ({"r": {"x": [0, 1]}}, [{"name": "p", "over": "r", "then": {"kind": "action", "op": "<=", "value": 1}}],
     "'action == k' or 'action != k'"),
    ({"r": {"x": [0, 1]}}, [{"name": "p", "over": "r", "then": {"kind": "speed"}}], "kind must be"),
    ({"r": {"x": [0, 1]}}, [{"name": "p", "over": "r", "assume": [{"terms": {"x": 0}, "op": ">=", "rhs": 0}],
                             "then": {"kind": "agrees"}}], "non-zero coefficient"),
    ({"r": {"x": [0, 1]}}, [{"name": "p", "over": "r", "assume": [{"terms": {"x": 1}, "op": "=>", "rhs": 0}],
                             "then": {"kind": "agrees"}}], "unknown comparison"),
    ({"r": "everywhere"}, [{"name": "p", "over": "r", "then": {"kind": "agrees"}}], "or \"visited\""),
    ({}, [], "no properties"),
])
def test_bad_declarations(cartpole, regions, props, message):
    with pytest.raises(PropertyError, match=message):
        compile_declarations(regions, props, cartpole[2])


def test_validate_against_the_policy():
    box = Box((0.0, 0.0), (1.0, 1.0))
    from sanp.prove.properties import Property

    ok = {"obs_dim": 2, "out_dim": 2, "action_kind": "discrete", "has_reference": False}
    validate(Property("p", box, ActionIs(1)), **ok)
    for concl, kw, msg in [
        (ActionIs(2), ok, "does not exist"),
        (ActionBound(0, "<=", 1.0), ok, "continuous policy"),
        (Agrees(), ok, "--reference"),
        (ActionIs(0), {**ok, "obs_dim": 3}, "3"),
        (Agrees(0.1), {**ok, "has_reference": True}, "'agrees' for a discrete"),
        (ActionIs(0), {**ok, "action_kind": "continuous"}, "discrete policy"),
    ]:
        with pytest.raises(PropertyError, match=msg):
            validate(Property("p", box, concl), **kw)


def test_json_errors_name_the_file(tmp_path, cartpole):
    bad = tmp_path / "p.json"
    bad.write_text('{"props": [')
    with pytest.raises(PropertyError, match=r"p.json:1:\d+: not valid JSON"):
        load_json(bad, cartpole[2])
    with pytest.raises(PropertyError, match="cannot read"):
        load_json(tmp_path / "missing.json", cartpole[2])


def test_visited_box_covers_every_state_the_policy_acts_in(cartpole, linear_cartpole):
    from sanp import rollout
    from sanp.prove.domain import search_points

    _, binding, _ = cartpole
    actor = linear_cartpole((1.0, 1.0, 10.0, 2.0))  # full-state feedback: balances
    box = visited_box(actor, binding, episodes=20, seed=3, names=("a", "b", "c", "d"))
    trajs = rollout.run_batch(actor, binding, search_points(binding, 20, 3), record_states=False)
    acted = np.concatenate([t.observations[: t.length] for t in trajs])
    assert len(trajs) == 20 + 16  # the random points and the 16 corners
    assert np.allclose(box.lo, acted.min(axis=0)) and np.allclose(box.hi, acted.max(axis=0))
    assert box.names == ("a", "b", "c", "d")
    # the initial states (the search space's corners) are inside, and it is wider than them
    assert all(lo <= -0.05 and hi >= 0.05 for lo, hi in zip(box.lo, box.hi))
