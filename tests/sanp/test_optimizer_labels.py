"""A prune whose rounds ran another optimiser than GP-BO names that optimiser — by its
registry label (`sanp.falsify.label`) — on the console, in the JSON verdict and on the
HTML page, and never calls it "BO" (issue 29 item 4: labels come from the registry)."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from sanp.falsify import label
from sanp.method import PruneConfig
from sanp.method.verdict import last_round_sentence
from tests.sanp.cli_run import cli

ROOT = Path(__file__).resolve().parents[2]
DENSE = ROOT / "zoo" / "cartpole" / "dense.onnx"
SPEC = ROOT / "specs" / "cartpole.stl"
TINY = ["--criterion", "activation", "--episodes", "20", "--budget", "8", "--rounds", "2", "--round-uniform", "40",
        "--heldout-budget", "8", "--heldout-uniform", "50", "--recipe", "paper"]
BO = re.compile(r"\bBO\b")


@pytest.fixture(scope="module")
def random_prune(tmp_path_factory):
    d = tmp_path_factory.mktemp("labels")
    return d


def test_a_prune_with_random_names_uniform_random_everywhere(random_prune, capsys):
    d = random_prune
    code, out, err = cli(capsys, "prune", DENSE, SPEC, "-o", d / "s.onnx", *TINY, "--optimizer", "random",
                         "--json", d / "r.json")
    assert code in (0, 1), err
    who = label("random")
    assert who == "uniform random"
    assert f"{who} rollouts" in out and f"held-out {who} counterexamples" in out
    assert not BO.search(out), [line for line in out.splitlines() if BO.search(line)]
    doc = json.loads((d / "r.json").read_text())
    assert doc["inputs"]["options"]["optimizer"] == "random"
    verdict = json.dumps(doc["verdict"])
    assert f"{who} rollouts" in verdict and f"held-out {who} search" in verdict and not BO.search(verdict)
    code, _, err = cli(capsys, "report", d / "r.json", "-o", d / "r.html")
    assert code == 0, err
    html = (d / "r.html").read_text()
    assert f"{who} rollouts" in html and f"{who} counterexamples" in html and not BO.search(html)


@pytest.mark.parametrize("name", ["bo", "cmaes", "corners", "random"])
def test_the_last_round_sentence_names_the_optimiser(name):
    from sanp.method.rounds import Round

    r = Round(2, 7, 30, 100, 0, (), 0, 0, 0, None, None, 0, (), 0.9)
    assert f"30 {label(name)} rollouts and 100 uniform points" in last_round_sentence([r], name)
    assert replace(PruneConfig(), optimizer=name).optimizer == name
