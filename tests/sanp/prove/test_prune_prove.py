"""`sanp prune --prove`: the spec's props proved on the refined policy; the outcome in
the JSON report, the ONNX metadata, the HTML page; and the differential property sanp
adds when the spec states none."""
from __future__ import annotations

import json

import onnx
from prove_nets import ROOT, needs_marabou

import stl
from sanp.cli import main
from sanp.prove.after_prune import DIFFERENTIAL, proof_properties
from sanp.prove.domain import Resolver
from sanp.prove.properties import Agrees, Box

DENSE = str(ROOT / "zoo/cartpole/dense.onnx")
SPEC = str(ROOT / "specs/cartpole.stl")
TINY = ["--criterion", "activation", "--episodes", "20", "--budget", "8", "--rounds", "1", "--sparsity", "0.9",
        "--round-uniform", "50", "--heldout-budget", "8", "--heldout-uniform", "50", "--recipe", "paper"]


@needs_marabou
def test_prune_prove_puts_the_proof_in_report_metadata_and_page(tmp_path, capsys):
    out, report, page = tmp_path / "s.onnx", tmp_path / "r.json", tmp_path / "r.html"
    code = main(["prune", DENSE, SPEC, "-o", str(out), *TINY, "--report", str(report),
                 "--prove", "--prove-timeout", "2"])
    doc = json.loads(report.read_text())
    assert code == (0 if doc["verdict"]["ok"] else 1)  # proof results leave the exit code alone
    proof = doc["proof"]
    props = {p["name"]: p for p in proof["properties"]}
    assert list(props) == ["push_right", "push_left", "same_as_dense"] and proof["timeout"] == 2
    assert proof["verifier"].startswith("marabou (maraboupy ")
    for p in props.values():
        f = p["fractions"]
        assert p["verdict"] in ("proved", "refuted", "unknown")
        assert abs(f["proved"] + f["refuted"] + f["unknown"] + f["vacuous"] - 1) < 1e-9
    refuted = [n for n, p in props.items() if p["verdict"] == "refuted"]
    details = [d for d in doc["verdict"]["details"] if d.startswith("proof: ")]
    assert [d.split()[2] for d in details] == refuted and all(" refuted (" in d for d in details)
    meta = {m.key: m.value for m in onnx.load(str(out)).metadata_props}
    assert meta["proof"] == proof["summary"] and proof["summary"].startswith("push_right ")
    assert "sanp prove (timeout 2 s per property)" in capsys.readouterr().out
    assert main(["report", str(report), "-o", str(page)]) == 0
    html = page.read_text()
    assert '<section id="proof">' in html and "same_as_dense: agrees" in html
    assert "Marabou, 2 s per property" in html


def test_the_differential_property_is_added_when_the_spec_has_none():
    text = (ROOT / "specs/cartpole.stl").read_text().replace("prop same_as_dense over domain: agrees\n", "")
    spec = stl.parse(text)
    dom = Box((-0.2, -0.5, -0.06, -0.7), (0.2, 0.5, 0.06, 0.7))
    props, note = proof_properties(spec, Resolver(spec, None, 4, visited=lambda: dom), "discrete")
    assert [p.name for p in props] == ["push_right", "push_left", DIFFERENTIAL] and note is None
    assert props[-1].conclusion == Agrees() and props[-1].region.lo == dom.lo
    props, note = proof_properties(spec, Resolver(spec, None, 4, visited=lambda: dom), "continuous")
    assert [p.name for p in props] == ["push_right", "push_left"] and "agrees within D" in note
    # the spec's own agrees prop replaces the added one
    full = stl.load(SPEC)
    props, _ = proof_properties(full, Resolver(full, None, 4, visited=lambda: dom), "discrete")
    assert [p.name for p in props] == ["push_right", "push_left", "same_as_dense"]


@needs_marabou
def test_prune_prove_with_nothing_to_prove_stops_before_pruning(tmp_path, capsys):
    # the continuous lander with a spec of requirements only: no differential property
    # without a stated distance, so nothing to prove; refused at once, nothing written
    spec = tmp_path / "lander.stl"
    spec.write_text("\n".join(l for l in (ROOT / "specs/lunar_lander.stl").read_text().splitlines()
                              if not l.startswith(("region ", "prop "))) + "\n")
    out = tmp_path / "s.onnx"
    assert main(["prune", str(ROOT / "zoo/lunar_lander/dense.onnx"), str(spec), "-o", str(out), "--prove"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--prove has nothing to prove" in err and len(err.splitlines()) == 1 and not out.exists()
