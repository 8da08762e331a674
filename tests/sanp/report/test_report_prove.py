"""`sanp report` renders a `sanp.prove/1` report: the verdict, a row per property with
its volume fractions and time, the counterexamples, and the split of each region."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import pytest

from sanp import report
from sanp.cli import main
from sanp.report import PROVE_SCHEMA, prove_plots
from sanp.report.drawing import AMBER, RED

ROOT = Path(__file__).resolve().parents[3]
POLICY = str(ROOT / "zoo/cartpole/dense.onnx")
SPEC = str(ROOT / "specs/cartpole.stl")
PNG = b"\x89PNG\r\n\x1a\n"


def table_rows(page: str, section_id: str) -> list[list[str]]:
    sec = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.DOTALL).group(1)
    body = re.search(r"<tbody>(.*?)</tbody>", sec, re.DOTALL).group(1)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.DOTALL)]
            for r in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)]


def pngs(page: str) -> list[bytes]:
    out = [base64.b64decode(src) for src in re.findall(r'<img src="data:image/png;base64,([^"]*)"', page)]
    assert all(p.startswith(PNG) for p in out)
    return out


def test_a_real_prove_report_renders(tmp_path, capsys):
    pytest.importorskip("maraboupy", reason="sanp prove needs Marabou (maraboupy)")
    near = {"x": [0.0, 0.1], "x_dot": [0.0, 0.1], "theta": [0.15, 0.2], "theta_dot": [1.5, 2.0]}
    wide = {"x": [-0.5, 0.5], "x_dot": [-0.5, 0.5], "theta": [-0.1, 0.1], "theta_dot": [-0.5, 0.5]}
    props = tmp_path / "props.json"
    props.write_text(json.dumps({"regions": {"near": near, "wide": wide}, "props": [
        {"name": "push_right", "over": "near", "then": {"kind": "action", "op": "==", "value": 1}},
        {"name": "always_right", "over": "wide", "then": {"kind": "action", "op": "==", "value": 1}}]}))
    out, page_path = tmp_path / "prove.json", tmp_path / "prove.html"
    assert main(["prove", POLICY, SPEC, "--properties", str(props), "--timeout", "20", "--depth", "3",
                 "--json", str(out)]) == 1
    doc = json.loads(out.read_text())
    assert doc["schema"] == PROVE_SCHEMA
    capsys.readouterr()
    assert main(["report", str(out), "-o", str(page_path)]) == 0
    assert "prove report, verdict: refuted" in capsys.readouterr().out
    page = page_path.read_text()
    head = re.search(r'class="verdict-head" style="background:(#[0-9a-f]{6})">([^<]*)<', page)
    assert head.groups() == (RED, "REFUTED")
    rows = table_rows(page, "properties")
    assert [(r[0], r[3], r[4], r[5]) for r in rows] == [
        ("push_right", "proved", "100.00%", "0.00%"), ("always_right", "refuted", "0.00%", "100.00%")]
    refuted = doc["properties"][1]
    assert rows[1][8] == str(len(refuted["leaves"])) and rows[1][10] == f"{refuted['seconds']:.3g}"
    cex = table_rows(page, "counterexamples")
    assert cex[0][0] == "always_right" and cex[0][1].startswith(f"x={refuted['counterexamples'][0]['obs'][0]:.6g}")
    # the refuted region was split: its picture (the proved one was not)
    assert len(pngs(page)) == 1 and "always_right: the" in page and "push_right: the" not in page
    timing = dict(re.findall(r"<tr><th>([^<]*)</th><td>([^<]*)</td></tr>",
                             re.search(r'<section id="prove-timing">(.*?)</section>', page, re.DOTALL).group(1)))
    assert timing["push_right"] == f"{doc['properties'][0]['seconds']:.3g} s"


def hand_prove() -> dict:
    """An unknown verdict, a timeout reason, a 2-D region split into three boxes."""
    leaves = [{"lo": [0.0, 0.0], "hi": [0.5, 1.0], "status": "proved", "depth": 1, "note": ""},
              {"lo": [0.5, 0.0], "hi": [1.0, 0.5], "status": "unknown", "depth": 2, "note": "timeout"},
              {"lo": [0.5, 0.5], "hi": [1.0, 1.0], "status": "vacuous", "depth": 2, "note": ""}]
    return {"schema": PROVE_SCHEMA, "command": "prove", "verdict": "unknown",
            "inputs": {"policy": "p<b>.onnx", "spec": "s.stl", "options": {"timeout": 1}},
            "properties": [{"name": "p1", "text": "p1: action == 1",
                            "region": {"name": "box", "names": ["a", "b"], "lo": [0, 0], "hi": [1, 1]},
                            "verdict": "unknown", "reason": "timeout", "seconds": 1.5, "queries": 3,
                            "fractions": {"proved": 0.5, "refuted": 0.0, "unknown": 0.25, "vacuous": 0.25},
                            "counterexamples": [], "leaves": leaves}]}


def test_a_hand_built_prove_report_unknown_with_its_split():
    doc = hand_prove()
    page = report.render(doc)
    head = re.search(r'class="verdict-head" style="background:(#[0-9a-f]{6})">([^<]*)<', page)
    assert head.groups() == (AMBER, "unknown")
    assert "p&lt;b&gt;.onnx" in page and "<b>.onnx" not in page
    (row,) = table_rows(page, "properties")
    assert row[3] == "unknown timeout" and row[4:8] == ["50.00%", "0.00%", "25.00%", "25.00%"]
    assert 'id="counterexamples"' not in page
    fig, caption = prove_plots.split_figure(doc["properties"][0])
    colours = sorted(tuple(round(c, 3) for c in p.get_facecolor()[:3]) for p in fig.axes[0].patches)
    assert len(colours) == 3 and "3 boxes" in caption
    assert len(pngs(page)) == 1
    doc["properties"][0]["leaves"] = doc["properties"][0]["leaves"][:1]  # not split: no picture
    assert not pngs(report.render(doc))


def test_a_malformed_prove_report_is_one_line():
    with pytest.raises(report.ReportError, match=r"malformed sanp.prove/1 report"):
        report.render({"schema": PROVE_SCHEMA, "properties": 5})
