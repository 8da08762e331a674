"""`disturb NAME in [lo, hi] over K pieces`: parsing into data, the printed round trip,
and errors at line:col."""
from __future__ import annotations

import pytest

import stl
from stl import ast as A

H = "env LunarLander-v3\nsignal x = obs[0]\nsearch push_x in [-1000, 1000]\nreq corridor: always (abs(x) <= 0.7)\n"
L = H.count("\n") + 1  # the line of a statement appended to H


def test_disturbances_parse_into_data_in_source_order():
    spec = stl.parse(H + "disturb wind in [-15, 15.5] over 5 pieces\n"
                         "disturb turbulence in [-1.5, 1.5] over 1 piece\n")
    assert list(spec.disturbances) == ["wind", "turbulence"]
    assert spec.disturbances["wind"] == A.Disturbance("wind", -15.0, 15.5, 5)
    assert spec.disturbances["turbulence"] == A.Disturbance("turbulence", -1.5, 1.5, 1)
    assert (spec.disturbances["wind"].line, spec.disturbances["wind"].column) == (L, 9)
    assert spec.search == {"push_x": (-1000.0, 1000.0)}  # search lines are not disturbances


def test_a_spec_without_disturb_lines_has_none():
    assert stl.parse(H).disturbances == {}


def test_disturbances_take_part_in_equality():
    a = stl.parse(H + "disturb wind in [-15, 15] over 5 pieces\n")
    b = stl.parse(H + "disturb wind in [-15, 15] over 4 pieces\n")
    assert a != b
    assert a != stl.parse(H)


@pytest.mark.parametrize("lines", [
    "disturb wind in [-15, 15] over 5 pieces\n",
    "disturb push in [-0.25, 1e-3] over 1 piece\n",
    "disturb wind in [-20, 20] over 100 pieces\ndisturb turbulence in [0, 0] over 2 pieces\n",
])
def test_print_parse_round_trip(lines):
    spec = stl.parse(H + lines)
    text = stl.to_text(spec)
    assert stl.parse(text) == spec
    assert stl.to_text(stl.parse(text)) == text
    for d in spec.disturbances.values():
        assert stl.to_text(d) in text


def test_one_piece_prints_as_piece_and_several_as_pieces():
    assert stl.to_text(A.Disturbance("wind", -1.0, 2.5, 1)) == "disturb wind in [-1, 2.5] over 1 piece"
    assert stl.to_text(A.Disturbance("wind", -1.0, 2.5, 3)) == "disturb wind in [-1, 2.5] over 3 pieces"


BAD = [
    ("disturb wind in [15, -15] over 5 pieces", 18, "empty disturbance range"),
    ("disturb wind in [-15, 15] over 0 pieces", 32, "number of pieces must be at least 1"),
    ("disturb wind in [-15, 15] over 2.5 pieces", 32, "number of pieces must be a whole number"),
    ("disturb wind in [-15, 15] over 101 pieces", 32, "101 pieces is over the limit of 100"),
    ("disturb wind in [-1e308, 1e308] over 2 pieces", 18, "wider than a float can span"),
    ("disturb wind in [-15, 15]", 26, "expected 'over'"),
    ("disturb wind in [-15, 15] over 5", 33, "expected 'pieces'"),
    ("disturb wind in [-15, 15] over 5 pieces\ndisturb wind in [0, 1] over 1 piece", 9,
     "duplicate disturbance 'wind'"),
]


@pytest.mark.parametrize(("line", "column", "message"), BAD, ids=[b[0] for b in BAD])
def test_errors_point_at_the_offending_token(line, column, message):
    with pytest.raises(stl.SpecError, match=message) as info:
        stl.parse(H + line + "\n", "d.stl")
    at_line = L + line.count("\n")
    assert (info.value.line, info.value.column) == (at_line, column), str(info.value)


def test_disturb_is_a_reserved_word():
    with pytest.raises(stl.SpecError, match="'disturb' is a reserved word") as info:
        stl.parse("env E\nsignal disturb = obs[0]\nreq a: true\n")
    assert (info.value.line, info.value.column) == (2, 8)
