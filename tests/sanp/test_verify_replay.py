"""`sanp verify POLICY SPEC --replay REPORT.json [--index K]` (issue 27 item 1): the
counterexamples a verify (or prune) report recorded re-run from their points — searched
values, reset seed, disturbance pieces — with bit-identical robustness, exit 0; a
replay that does not reproduce (another reset seed) exits 1; bad input is one line and
exit 2. A verify run that finds counterexamples prints the command that replays them."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from sanp.cli import main
from sanp.schemas import schema
from tests.sanp.cli_run import cli
# the always-violating CartPole spec and the policies `sanp replay`'s tests use
from tests.sanp.test_cli_replay import CARTPOLE, LANDER, SHORT

# The dense lander under a searched crosswind, held to a vertical speed it exceeds at
# most points within 60 steps; each point has its own reset seed (terrain, dispersion).
WINDY = """env LunarLander-v3 (continuous=true)
horizon 60
signal vy = obs[3]
signal x = obs[0]
search push_x in [-1500, 1500]
search push_y in [-1500, 1500]
disturb wind in [-20, 20] over 2 pieces
req slow: always (abs(vy) <= 0.3)
req corridor: always (abs(x) <= 0.5)
"""


def _verify(d: Path, policy: Path, text: str, budget: int = 3) -> tuple[Path, Path]:
    spec, out = d / "spec.stl", d / "verify.json"
    spec.write_text(text)
    assert main(["verify", str(policy), str(spec), "--budget", str(budget), "--optimizer", "random", "--all",
                 "--json", str(out)]) == 1
    return spec, out


@pytest.fixture(scope="module")
def cartpole(tmp_path_factory):
    return _verify(tmp_path_factory.mktemp("cartpole"), CARTPOLE, SHORT)


def test_a_verify_run_prints_the_replay_command(capsys, tmp_path):
    spec, out = tmp_path / "s.stl", tmp_path / "v.json"
    spec.write_text(SHORT)
    code, stdout, _ = cli(capsys, "verify", CARTPOLE, spec, "--budget", "1", "--json", out)
    assert code == 1 and f"replay: sanp verify {CARTPOLE} {spec} --replay {out}" in stdout
    code, stdout, _ = cli(capsys, "verify", CARTPOLE, spec, "--budget", "1")
    assert code == 1 and "replay:" not in stdout  # no report, nothing to replay from


def test_every_counterexample_replays_bit_identically(cartpole, capsys, tmp_path):
    spec, out = cartpole
    doc = json.loads(out.read_text())
    n = len(doc["counterexamples"])
    assert n == 3
    code, stdout, err = cli(capsys, "verify", CARTPOLE, spec, "--replay", out, "--tolerance", "0",
                            "--json", tmp_path / "r.json", "--plots", tmp_path / "plots")
    assert code == 0, err
    assert stdout.count("bit-identical") == n + 1 and f"{n} of {n} violated again, {n} with bit-identical" in stdout
    for c in doc["counterexamples"]:  # the recorded robustness, printed in full beside the replayed one
        assert stdout.count(f"{c['min_robustness']:.10g}") == 2
    rep = json.loads((tmp_path / "r.json").read_text())
    assert list(jsonschema.Draft202012Validator(schema(rep["schema"])).iter_errors(rep)) == []
    assert rep["replay"]["report"] == str(out) and all(r["reproduced"] for r in rep["replay"]["rows"])
    # the replayed episodes are the recorded ones, signal for signal
    assert [c["signals"] for c in rep["counterexamples"]] == [c["signals"] for c in doc["counterexamples"]]
    assert [c["point"] for c in rep["counterexamples"]] == [c["point"] for c in doc["counterexamples"]]
    assert any((tmp_path / "plots").glob("*.png"))


def test_index_replays_one_counterexample(cartpole, capsys):
    spec, out = cartpole
    code, stdout, _ = cli(capsys, "verify", CARTPOLE, spec, "--replay", out, "--index", "2")
    assert code == 0 and "#2" in stdout and "#1 " not in stdout and "1 of 1 violated again" in stdout


def _one_line(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert all(w in lines[0] for w in words), lines[0]


def test_bad_input_is_one_line_and_exit_2(cartpole, capsys, tmp_path):
    spec, out = cartpole
    other = tmp_path / "other.stl"
    other.write_text(SHORT.replace("0.004", "0.005"))
    lander = tmp_path / "lander.stl"
    lander.write_text(WINDY)
    junk = tmp_path / "junk.json"
    junk.write_text(json.dumps({"schema": "sanp.prove/1", "command": "prove", "verdict": "proved", "inputs": {}}))
    cases = [
        ((spec, "--replay", tmp_path / "missing.json"), ("missing.json",)),
        ((spec, "--replay", out, "--index", "4"), ("--index 4 is out of range", "1 to 3")),
        ((other, "--replay", out), ("another spec", "inputs.spec_text")),
        ((lander, "--replay", out), ("env CartPole-v1",)),
        ((spec, "--replay", junk), ("verify or prune report",)),
        ((spec, "--index", "1"), ("--replay",)),
        ((spec, "--replay", out, "--tolerance", "-1"), ("--tolerance",)),
    ]
    for argv, words in cases:
        code, stdout, err = cli(capsys, "verify", CARTPOLE, *argv)
        assert code == 2, (argv, err)
        _one_line(err, *words)


def test_a_prune_reports_rounds_replay_under_their_labels(cartpole, capsys, tmp_path):
    """A prune report keeps each round's counterexamples (point, violated, min robustness);
    numbered across the rounds, they replay with the policy given."""
    spec, out = cartpole
    doc = json.loads(out.read_text())
    cexs = [{k: c[k] for k in ("point", "violated", "min_robustness", "step")} for c in doc["counterexamples"]]
    prune = {"schema": "sanp.prune/1", "command": "prune", "verdict": {"ok": False}, "inputs": doc["inputs"],
             "rounds": [{"round": 1, "counterexamples": cexs[:2]}, {"round": 2, "counterexamples": cexs[2:]}]}
    path = tmp_path / "prune.json"
    path.write_text(json.dumps(prune))
    code, stdout, _ = cli(capsys, "verify", CARTPOLE, spec, "--replay", path, "--index", "3")
    assert code == 0 and "round 2 #1" in stdout and "bit-identical" in stdout
    assert "before that round's repair" in stdout  # why a repaired policy need not violate them


@pytest.fixture(scope="module")
def windy(tmp_path_factory):
    return _verify(tmp_path_factory.mktemp("windy"), LANDER, WINDY, budget=4)


def test_lunar_lander_with_wind_replays_exactly_with_its_reset_seed(windy, capsys, tmp_path):
    spec, out = windy
    doc = json.loads(out.read_text())
    assert all({"reset_seed", "wind[0]", "wind[1]"} <= set(c["point"]) for c in doc["counterexamples"])
    code, stdout, err = cli(capsys, "verify", LANDER, spec, "--replay", out, "--tolerance", "0")
    n = len(doc["counterexamples"])
    assert code == 0 and stdout.count("bit-identical") == n + 1, stdout + err
    # the same searched values on another terrain: not the recorded episode
    moved = copy.deepcopy(doc)
    for c in moved["counterexamples"]:
        c["point"]["reset_seed"] += 1
    path = tmp_path / "moved.json"
    path.write_text(json.dumps(moved))
    code, stdout, _ = cli(capsys, "verify", LANDER, spec, "--replay", path)
    assert code == 1 and stdout.count("over tolerance") == n and "0 with bit-identical robustness" in stdout


def test_another_policy_is_tested_on_the_reports_episodes(cartpole, capsys, tmp_path):
    """With a policy the report did not run, being violated again is what counts (its
    robustness is not expected to match), and the output says so."""
    spec, out = cartpole
    doc = json.loads(out.read_text())
    doc["inputs"]["policy_sha256"] = "0" * 64
    path = tmp_path / "other_policy.json"
    path.write_text(json.dumps(doc))
    code, stdout, _ = cli(capsys, "verify", CARTPOLE, spec, "--replay", path)
    assert code == 0 and "the report ran another policy" in stdout
