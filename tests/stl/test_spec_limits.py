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


HEAD = "env CartPole-v1\nsignal x = obs[0]\n"


@pytest.mark.parametrize("text,message,where", [
    (HEAD + "".join(f"req r{i}: always (x < {i})\n" for i in range(2100)),
     "more than 2000 statements", (2001, 1)),
    (HEAD + "req r: " + "(" * 100_000 + "x < 1" + ")" * 100_000 + "\n",
     "brackets nested more than 5000 deep", (3, 5008)),
])
def test_long_specs_are_refused_as_they_arrive(text, message, where):
    with pytest.raises(stl.SpecError, match=message) as e:
        stl.parse(text, "s.stl")
    assert (e.value.line, e.value.column) == where
    assert len(e.value.pretty()) < 400  # the excerpt is a window, not the whole line


def test_spec_files_over_the_size_limit_or_not_regular_are_refused(tmp_path):
    big = tmp_path / "big.stl"
    big.write_text(HEAD + "#" * stl.parser.MAX_SPEC_BYTES + "\n")
    with pytest.raises(stl.SpecError, match="over the 1,048,576-byte limit"):
        stl.load(big)
    with pytest.raises(stl.SpecError, match="not a regular file"):
        stl.load("/dev/zero")
