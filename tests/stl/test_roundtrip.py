"""parse -> print -> parse gives an equal spec, for every spec in specs/ and generated ones."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stl_strategies import HEADER, formulas

import stl

SPECS = sorted((Path(__file__).parents[2] / "specs").glob("*.stl"))


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_files_round_trip(path: Path):
    spec = stl.load(path)
    text = stl.to_text(spec)
    again = stl.parse(text, "printed")
    assert again == spec
    assert stl.to_text(again) == text  # printing is a fixed point
    for name, req in spec.requirements.items():
        assert stl.to_text(again.requirements[name]) == stl.to_text(req)


def test_there_is_at_least_the_cartpole_spec():
    assert any(p.name == "cartpole.stl" for p in SPECS)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(formulas(), min_size=1, max_size=4))
def test_generated_specs_round_trip(fs):
    text = HEADER + "horizon 50\nreward >= -1.5\nsearch x in [-1, 1e-3]\n"
    text += "".join(f"req r{i}: {stl.format_node(f)}\n" for i, f in enumerate(fs))
    text += f"req uses: r0 and not r{len(fs) - 1}\n"
    spec = stl.parse(text)
    for i, f in enumerate(fs):
        assert spec.requirements[f"r{i}"].formula == f
    printed = stl.to_text(spec)
    assert stl.parse(printed) == spec
    assert stl.to_text(stl.parse(printed)) == printed
