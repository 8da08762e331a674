"""Specs that would make sanp allocate without bound are refused at line:col."""
import pytest

import stl


@pytest.mark.parametrize("line,message,col", [
    ("horizon 1e12", "horizon 1e12 is over the limit of 1,000,000 steps", 9),
    ("search x in [-1.7e308, 1.7e308]", "wider than a float can span", 14),
])
def test_unbounded_specs_are_refused(line, message, col):
    text = f"env CartPole-v1\nsignal x = obs[0]\n{line}\nreq r: always (x < 1)\n"
    with pytest.raises(stl.SpecError, match=message) as e:
        stl.parse(text, "s.stl")
    assert (e.value.line, e.value.column) == (3, col)


def test_the_largest_allowed_horizon_parses():
    spec = stl.parse("env CartPole-v1\nhorizon 1000000\nsignal x = obs[0]\nreq r: always (x < 1)\n")
    assert spec.horizon == 1_000_000
