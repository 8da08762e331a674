"""The parser either returns a SpecFile or raises SpecError, quickly, whatever the input."""
from __future__ import annotations

import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import stl

ROOT = Path(__file__).parents[2]
SEEDS = [p.read_text() for p in sorted((ROOT / "specs").glob("*.stl"))]
SEEDS += [p.read_text() for p in sorted((ROOT / "tests" / "corpus" / "specs_bad").glob("*.stl"))]
TOKENS = ["env", "E-v0", "req", "a", ":", "signal", "x", "=", "obs", "[", "]", "0", "1.5e3",
          "(", ")", "always", "G", "[0:inf]", "until", "since", "not", "and", "or", "->",
          "<->", "<=", ">=", "==", "!=", "abs", "-", "+", "*", "/", "true", "false", "\n",
          "#", "const", "search", "in", ",", "horizon", "reward", "next", "prev", "'s'", '"',
          "F", "U", "inf", "1e999", "-3", "\t", "é", "\x00", "xor", "iff"]

SETTINGS = settings(max_examples=400, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def check(text: str) -> None:
    # CPU time, not wall time: on a shared 2-core machine wall time measures the load.
    start = time.process_time()
    try:
        spec = stl.parse(text, "fuzz.stl")
    except stl.SpecError as err:
        err.pretty()
        assert str(err).startswith("fuzz.stl")
    else:
        assert isinstance(spec, stl.SpecFile)
        assert stl.parse(stl.to_text(spec)) == spec
    assert time.process_time() - start < 1.0


@SETTINGS
@given(st.text(max_size=300))
def test_random_text(text):
    check(text)


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map(" ".join))
def test_random_token_soup(text):
    check("env E-v0\nsignal x = obs[0]\nreq a: " + text)
    check(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        j = draw(st.integers(i, min(len(text), i + 12)))
        action = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        piece = draw(st.sampled_from(TOKENS))
        if action == "delete":
            text = text[:i] + text[j:]
        elif action == "insert":
            text = text[:i] + piece + text[i:]
        elif action == "replace":
            text = text[:i] + piece + text[j:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


@SETTINGS
@given(mutated())
def test_mutated_specs(text):
    check(text)


def test_large_and_deep_inputs_stay_fast():
    head = "env E-v0\nsignal x = obs[0]\n"
    cases = [
        head + "req a: " + "(" * 4900 + "x > 0" + ")" * 4900 + "\n",
        head + "req a: " + "(" * 5000 + "\n",
        head + "req a: " + ")" * 5000 + "\n",
        head + "req a: " + "not " * 2400 + "x > 0\n",
        head + "req a: " + "-" * 9000 + "x > 0\n",
        head + "".join(f"req r{i}: x > {i}\n" for i in range(550)),
        head + "req a: " + " and ".join(["x > 0"] * 190) + "\n",
        head + "req a: " + "always[0:3] " * 150 + "x > 0\n",
        "#" * 10000,
        "\n" * 10000,
        head + "req a: " + "abs(" * 2000 + "x" + ")" * 2000 + " > 0\n",
    ]
    for text in cases:
        assert len(text) <= 10_100
        check(text)
