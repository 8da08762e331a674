"""End to end: a spec with a wind disturbance is falsified on LunarLander by `sanp verify`
within a small budget; the report's counterexample carries the wind's pieces in its
point, reruns to the same robustness and replays (`sanp replay`) to the same signals, and
only with its wind; `sanp check` prints the disturbance; an unsupported disturbance is
one line and exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import stl
from sanp import rollout
from sanp.commands.common import load_policy
from sanp.envs import bind
from sanp.falsify import score
from sanp.runtime import deployed
from tests.sanp.cli_run import cli

ROOT = Path(__file__).resolve().parents[2]
LANDER = ROOT / "zoo/lunar_lander/dense.onnx"
# The dense lander keeps |x| <= 0.4 for 300 steps without wind (at most 0.36 over 60
# uniform points); a steady crosswind of up to 20 (gymnasium's largest wind_power)
# pushes it out on about one point in six.
WINDY = """env LunarLander-v3 (continuous=true)
horizon 300
signal x = obs[0]
search push_x in [-1000, 1000]
disturb wind in [-20, 20] over 3 pieces
req corridor: always (abs(x) <= 0.4)
"""
PIECES = ["wind[0]", "wind[1]", "wind[2]"]


@pytest.fixture(scope="module")
def windy_report(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("wind")
    spec, out = d / "windy.stl", d / "verify.json"
    spec.write_text(WINDY)
    from sanp.cli import main

    assert main(["verify", str(LANDER), str(spec), "--budget", "15", "--seed", "0", "--json", str(out)]) == 1
    return spec, out


def test_the_counterexample_records_the_wind_and_reruns_to_the_same_robustness(windy_report):
    _, out = windy_report
    doc = json.loads(out.read_text())
    assert doc["verdict"] == "falsified"
    cex = doc["counterexamples"][0]
    assert set(cex["point"]) == {"push_x", *PIECES, "reset_seed"}
    assert all(-20 <= cex["point"][k] <= 20 for k in PIECES)
    # a rerun from the report alone: its spec text, the policy and the recorded point
    spec = stl.parse(doc["inputs"]["spec_text"])
    binding = bind(spec)
    actor = deployed(load_policy(str(LANDER), binding))
    traj = rollout.run(actor, binding, cex["point"])
    rob = score(spec, list(spec.requirements), traj)
    assert rob["corridor"] < 0
    assert rob["corridor"] == pytest.approx(cex["robustness"]["corridor"], abs=1e-9, rel=0)
    assert np.array_equal(traj.signals(spec)["x"], np.asarray(cex["signals"]["x"]))
    # without its wind the same start is another episode, which keeps the corridor
    calm = {k: v for k, v in cex["point"].items() if k not in PIECES}
    assert score(spec, ["corridor"], rollout.run(actor, binding, calm))["corridor"] > 0


def test_sanp_replay_reproduces_the_windy_episode_and_needs_its_wind(windy_report, tmp_path, capsys):
    from sanp.report import replay

    _, out = windy_report
    gif = tmp_path / "cex.gif"
    code, text, err = cli(capsys, "replay", out, "-o", gif, "--stride", "30")
    assert code == 0 and "matching the report" in text, err
    assert gif.stat().st_size > 0
    doc = json.loads(out.read_text())
    doc["counterexamples"][0]["point"]["wind[1]"] += 1.0
    with pytest.raises(replay.ReplayError, match="does not reproduce the recorded episode"):
        replay.replay(doc, 1, stride=30)


def test_check_prints_the_disturbance(windy_report, capsys):
    spec, _ = windy_report
    code, out, err = cli(capsys, "check", spec)
    assert code == 0, err
    assert out.strip().endswith("search [push_x], disturb [wind in [-20, 20] over 3 pieces of 100 steps]")


def test_check_prints_uneven_pieces_and_several_disturbances(tmp_path, capsys):
    spec = tmp_path / "cart.stl"
    spec.write_text("env CartPole-v1\nhorizon 500\nsignal x = obs[0]\ndisturb push in [-2, 2.5] over 3 pieces\n"
                    "req position: always (abs(x) <= 2.4)\n")
    code, out, _ = cli(capsys, "check", spec)
    assert code == 0
    assert out.strip().endswith("search [x, x_dot, theta, theta_dot], "
                                "disturb [push in [-2, 2.5] over 3 pieces of up to 167 steps]")


@pytest.mark.parametrize("command", ["check", "verify"])
def test_an_unsupported_disturbance_is_one_line_and_exit_2(tmp_path, capsys, command):
    spec, out = tmp_path / "gusty.stl", tmp_path / "v.json"
    spec.write_text(WINDY.replace("disturb wind", "disturb gust"))
    args = ["check", spec] if command == "check" else ["verify", LANDER, spec, "--json", out]
    code, _, err = cli(capsys, *args)
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines == [(f"sanp {command}: error: {spec}:5:9: env LunarLander-v3 has no disturbance 'gust'; "
                      "it supports: wind, turbulence")]
    assert not out.exists()
