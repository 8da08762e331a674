"""`sanp prove` end to end on the zoo CartPole policy: exit codes 0 / 1 / 3, the JSON
report with its re-checked counterexample, the split picture, and one-line errors (2)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from prove_nets import ROOT, needs_marabou

from sanp.cli import main

pytestmark = needs_marabou
POLICY = str(ROOT / "zoo/cartpole/dense.onnx")
SPEC = str(ROOT / "specs/cartpole.stl")
# leaning far right and falling right, near the middle of the track, cart slow
FALLING_RIGHT = {"x": [0.0, 0.1], "x_dot": [0.0, 0.1], "theta": [0.15, 0.2], "theta_dot": [1.5, 2.0]}


def write(tmp_path, props, regions=None):
    p = tmp_path / "props.json"
    p.write_text(json.dumps({"regions": regions or {"r": FALLING_RIGHT}, "props": props}))
    return str(p)


def test_proved_exits_0(tmp_path, capsys):
    props = write(tmp_path, [{"name": "push_right", "over": "r", "then": {"kind": "action", "op": "==", "value": 1}}])
    out = tmp_path / "r.json"
    assert main(["prove", POLICY, SPEC, "--properties", props, "--timeout", "60", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["schema"] == "sanp.prove/1" and doc["verdict"] == "proved"
    assert doc["properties"][0]["fractions"]["proved"] == 1.0 and doc["inputs"]["policy_sha256"]
    assert "push_right" in capsys.readouterr().out


def test_refuted_exits_1_with_a_rechecked_counterexample_and_a_picture(tmp_path, capsys):
    # the network's output 0 (push left) is negative here, so output[0] >= 0 fails
    props = write(tmp_path, [{"name": "q", "over": "r", "then": {"kind": "output", "index": 0, "op": ">=", "value": 0}}])
    out, plots = tmp_path / "r.json", tmp_path / "plots"
    code = main(["prove", POLICY, SPEC, "--properties", props, "--timeout", "20", "--depth", "2",
                 "--json", str(out), "--plots", str(plots)])
    assert code == 1
    prop = json.loads(out.read_text())["properties"][0]
    assert prop["verdict"] == "refuted"
    cex = prop["counterexamples"][0]
    from sanp import formats
    from sanp.runtime import deployed

    values = deployed(formats.load(POLICY)).values(np.array([cex["obs"]], np.float32))[0]
    assert values[0] == pytest.approx(cex["outputs"][0]) and cex["margin"] == pytest.approx(values[0]) and values[0] < 0
    assert (plots / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "REFUTED at" in capsys.readouterr().out


def test_unknown_exits_3(tmp_path):
    # the dense network against itself over a wide box: no proof within 1 s, no split
    wide = {"x": [-1, 1], "x_dot": [-1, 1], "theta": [-0.2, 0.2], "theta_dot": [-1, 1]}
    props = write(tmp_path, [{"name": "same", "over": "r", "then": {"kind": "agrees"}}], {"r": wide})
    assert main(["prove", POLICY, SPEC, "--properties", props, "--reference", POLICY,
                 "--timeout", "1", "--no-split"]) == 3


@pytest.mark.parametrize("args, message", [
    (["--properties", "{missing}"], "cannot read"),
    (["--properties", "{agrees}"], "every property (a) compares with a reference policy; pass --reference"),
    (["--properties", "{agrees}", "--timeout", "0"], "must be positive"),
    (["--properties", "{agrees}", "--reference", "nope.onnx"], "no such policy file"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    files = {"missing": str(tmp_path / "none.json"),
             "agrees": write(tmp_path, [{"name": "a", "over": "r", "then": {"kind": "agrees"}}])}
    args = [a.format(**files) for a in args]
    assert main(["prove", POLICY, SPEC, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_properties_from_the_spec(tmp_path):
    # specs/cartpole.stl: push_right and push_left proved in well under a second; the
    # dense policy against itself over its visited domain does not finish in 2 s
    out = tmp_path / "r.json"
    code = main(["prove", POLICY, SPEC, "--reference", POLICY, "--timeout", "2", "--depth", "1",
                 "--visited-episodes", "10", "--json", str(out)])
    props = {p["name"]: p for p in json.loads(out.read_text())["properties"]}
    assert code == 3 and list(props) == ["push_right", "push_left", "same_as_dense"]
    assert props["push_right"]["verdict"] == props["push_left"]["verdict"] == "proved"
    assert props["same_as_dense"]["verdict"] == "unknown" and props["same_as_dense"]["region"]["name"] == "domain"


def test_without_a_reference_the_agrees_prop_is_skipped_and_the_others_proved(tmp_path, capsys):
    # specs/cartpole.stl without --reference: same_as_dense cannot run; push_right and
    # push_left are proved; a skipped property is not a proved one, so the exit code is 3
    out = tmp_path / "r.json"
    code = main(["prove", POLICY, SPEC, "--timeout", "20", "--depth", "1", "--visited-episodes", "5",
                 "--json", str(out)])
    doc = json.loads(out.read_text())
    assert code == 3 and doc["verdict"] == "unknown"
    assert [(p["name"], p["verdict"]) for p in doc["properties"]] == [("push_right", "proved"), ("push_left", "proved")]
    assert [s["name"] for s in doc["skipped"]] == ["same_as_dense"]
    assert ("skipped same_as_dense: compares with a reference policy; pass --reference REF.onnx to prove it"
            in capsys.readouterr().out.splitlines())
