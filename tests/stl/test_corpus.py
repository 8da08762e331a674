"""Every bad spec in tests/corpus/specs_bad/ fails with the line, column and message in
its header comment: `# expect: LINE:COL: fragment | fragment ...` (the first fragment is
matched against str(err), the rest against err.pretty())."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import stl

CORPUS = sorted((Path(__file__).parents[1] / "corpus" / "specs_bad").glob("*.stl"))
HEADER = re.compile(r"# expect: (\d+):(\d+): (.*)")


def test_corpus_is_there():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_bad_spec(path: Path):
    text = path.read_text()
    m = HEADER.match(text)
    assert m, f"{path.name} lacks its '# expect: LINE:COL: message' header"
    line, column = int(m[1]), int(m[2])
    first, *rest = [f.strip() for f in m[3].split("|")]
    with pytest.raises(stl.SpecError, match=re.escape(first)) as info:
        stl.load(path)
    err = info.value
    assert (err.line, err.column) == (line, column)
    assert err.source == str(path)
    assert str(err).startswith(f"{path}:{line}:{column}: ")
    assert "\n" not in str(err)
    pretty = err.pretty()
    for fragment in rest:
        assert fragment in pretty
    lines = pretty.split("\n")
    assert lines[0] == str(err)
    # the offending line, then a caret under the column
    assert lines[1] == "    " + text.split("\n")[line - 1]
    assert lines[2] == "    " + " " * (column - 1) + "^"
    if err.hint:
        assert lines[-1] == f"hint: {err.hint}"


def test_every_bad_spec_also_fails_through_parse():
    for path in CORPUS:
        with pytest.raises(stl.SpecError):
            stl.parse(path.read_text(), str(path))
