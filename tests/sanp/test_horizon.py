"""The horizon against the env's episode limit (issue 27 item 4): a requirement whose
verdict depends on steps after the horizon is named, `check`, `verify` and `prune` warn,
and reports record what was checked."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import stl
from sanp import cli
from sanp.horizon import coverage

ROOT = Path(__file__).resolve().parents[2]
CARTPOLE = ROOT / "specs" / "cartpole.stl"
FULL = ROOT / "specs" / "cartpole_full.stl"
HEAD = "env CartPole-v1\nhorizon {h}\nsignal x = obs[0]\n"


@pytest.mark.parametrize("horizon, req, cut", [
    (200, "always (abs(x) <= 2.4)", True),               # reads the whole episode
    (500, "always (abs(x) <= 2.4)", False),              # the whole episode is checked
    (300, "eventually[0:200] (x >= 0.1)", False),        # decided by step 200
    (100, "always[0:150] (abs(x) <= 2.4)", True),        # its window runs past step 100
    (100, "always[0:50] eventually[0:60] (x >= 0)", True),  # 50 + 60 steps > 100
    (120, "always[0:50] eventually[0:60] (x >= 0)", False),
])
def test_a_requirement_is_cut_when_it_reads_past_the_horizon(horizon, req, cut):
    spec = stl.parse(HEAD.format(h=horizon) + f"req r: {req}\n")
    c = coverage(spec)
    assert (c.checked, c.episode_limit) == (horizon, 500)
    assert c.cut == (("r",) if cut else ())
    assert c.covers_episode is not cut


def test_the_paper_cartpole_spec_is_cut_and_the_full_one_is_not():
    assert coverage(stl.load(CARTPOLE)).cut == ("position", "momentum", "angle")
    full = coverage(stl.load(FULL))
    assert full.covers_episode and full.checked == full.episode_limit == 500


def test_check_warns_on_stderr_and_still_exits_0(capsys):
    assert cli.main(["check", str(CARTPOLE), str(FULL)]) == 0
    out, err = capsys.readouterr()
    assert out.count(": ok — ") == 2
    assert err.splitlines() == [(
        f"{CARTPOLE}: warning: horizon 200 is shorter than CartPole-v1's episode limit of 500 steps, "
        "and position, momentum, angle depend on the steps after it: set `horizon 500` to check "
        "whole deployed episodes")]


def test_verify_warns_and_its_report_records_the_horizon_checked(tmp_path, capsys):
    policy = str(ROOT / "zoo" / "cartpole" / "dense.onnx")
    for spec, covers in ((CARTPOLE, False), (FULL, True)):
        report = tmp_path / f"{spec.stem}.json"
        assert cli.main(["verify", policy, str(spec), "--budget", "2", "--optimizer", "random",
                         "--json", str(report)]) == 0
        err = capsys.readouterr().err
        assert ("warning: horizon 200" in err) is not covers
        horizon = json.loads(report.read_text())["inputs"]["horizon"]
        assert horizon["covers_episode"] is covers
        assert horizon["episode_limit"] == 500
        assert horizon["checked"] == (500 if covers else 200)
