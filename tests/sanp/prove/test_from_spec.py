"""The spec's `region` / `prop` statements give the same properties, and so the same
verdicts, as the JSON declarations, on the hand-built 2-2-2 network (answers on paper:
action 0 iff relu(a + b) - 2 relu(a - b) >= 0.25; output[1] = relu(a - b) + 0.25)."""
from __future__ import annotations

import pytest
from prove_nets import needs_marabou

import stl
from sanp.prove.bab import ProveConfig
from sanp.prove.declarations import compile_declarations
from sanp.prove.domain import Resolver
from sanp.prove.from_spec import properties_from_spec
from sanp.prove.properties import ActionIs, OutputBound, PropertyError
from sanp.prove.run import prove_all

SPEC = """env Toy-v0
signal a = obs[0]
signal b = obs[1]
signal u = action
const half = 0.5
region upper_left: a in [-1, 0], b in [0.5, 1]
region square: a in [-1, 1], b in [-1, 1]
prop sum_high over upper_left: a + b >= half implies action == 0
prop anywhere_left over upper_left: action == 0
prop by_signal over upper_left: a + b >= half implies u != 1
prop flat_output over upper_left: -output[1] >= -0.3
prop low_output over square: b >= a implies 2 * output[1] < 0.5
"""

JSON = {
    "regions": {"upper_left": {"a": [-1, 0], "b": [0.5, 1]}, "square": {"a": [-1, 1], "b": [-1, 1]}},
    "props": [
        {"name": "sum_high", "over": "upper_left", "assume": [{"terms": {"a": 1, "b": 1}, "op": ">=", "rhs": 0.5}],
         "then": {"kind": "action", "op": "==", "value": 0}},
        {"name": "anywhere_left", "over": "upper_left", "then": {"kind": "action", "op": "==", "value": 0}},
        {"name": "by_signal", "over": "upper_left", "assume": [{"terms": {"a": 1, "b": 1}, "op": ">=", "rhs": 0.5}],
         "then": {"kind": "action", "op": "!=", "value": 1}},
        {"name": "flat_output", "over": "upper_left", "then": {"kind": "output", "index": 1, "op": "<=", "value": 0.3}},
        {"name": "low_output", "over": "square", "assume": [{"terms": {"b": 1, "a": -1}, "op": ">=", "rhs": 0}],
         "then": {"kind": "output", "index": 1, "op": "<", "value": 0.25}},
    ],
}


def resolver(spec):
    return Resolver(spec, None, 2)


@needs_marabou
def test_spec_props_equal_the_json_declarations_and_prove_alike(net222):
    spec = stl.parse(SPEC)
    from_spec = properties_from_spec(spec, resolver(spec))
    from_json = compile_declarations(JSON["regions"], JSON["props"], resolver(spec))
    assert from_spec == from_json
    assert from_spec[2].conclusion == ActionIs(1, equal=False)  # `u != 1`, u bound to the action
    assert from_spec[3].conclusion == OutputBound(1, "<=", 0.3)  # the negated side flipped
    config = ProveConfig(timeout=20, max_depth=3)
    verdicts = [r.verdict for r in prove_all(from_spec, net222, config=config)]
    assert verdicts == [r.verdict for r in prove_all(from_json, net222, config=config)]
    # with a + b >= 0.5 and a <= 0 < b: relu(a - b) = 0, so action 0; without the
    # assumption a + b can be below 0.25 (action 1); output[1] is 0.25 where b >= a
    assert verdicts == ["proved", "refuted", "proved", "proved", "refuted"]


@pytest.mark.parametrize("line, message", [
    ("prop two over square: output[1] - output[0] >= 0.5", r"<string>:\d+:\d+: prop 'two'.*compares 2 policy outputs"),
    ("prop ne over square: a != 0 implies action == 1", "'!=' in an assumption"),
    ("prop eq over square: output[0] == 1", "not one the prover takes"),
])
def test_conclusions_the_prover_cannot_take_are_refused(line, message):
    spec = stl.parse(SPEC.split("prop ")[0] + line + "\n")
    with pytest.raises(PropertyError, match=message):
        properties_from_spec(spec, resolver(spec))


def test_a_spec_without_props_says_how_to_add_them():
    spec = stl.parse("env Toy-v0\nsignal a = obs[0]\nreq r: always (a <= 1)\n")
    with pytest.raises(PropertyError, match="no prop statements.*--properties FILE.json"):
        properties_from_spec(spec, resolver(spec))
