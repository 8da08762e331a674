"""Closed-loop proofs end to end: a tube that holds every simulated trajectory, a small
loop proved, a refuted one replayed in the env, and the command's one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import stl
from sanp.envs import bind
from sanp.formats import load, save
from sanp.model import MLPPolicy
from sanp.reach import ReachConfig, prove_closed_loop
from sanp.reach.run import build

ROOT = Path(__file__).resolve().parents[3]
DENSE = ROOT / "zoo/cartpole/dense.onnx"
SPEC = ROOT / "specs/cartpole.stl"

SPEED_SPEC = """env CartPole-v1
horizon 10
signal x = obs[0]
signal x_dot = obs[1]
signal theta = obs[2]
signal theta_dot = obs[3]
search x in [-0.05, 0.05]
search x_dot in [-0.05, 0.05]
search theta in [-0.05, 0.05]
search theta_dot in [-0.05, 0.05]
req slow: always (abs(x_dot) <= 0.5)
req near: always (abs(x) <= 2.4)
"""


def push_right() -> MLPPolicy:
    """A CartPole policy that always pushes right (output 1 is 1, output 0 is 0)."""
    p = MLPPolicy([4, 2], action_kind="discrete")
    with torch.no_grad():
        p.layers[0].weight.zero_()
        p.layers[0].bias.copy_(torch.tensor([0.0, 1.0]))
    return p


@pytest.fixture(scope="module")
def dense():
    return load(DENSE)


def test_the_tube_holds_every_simulated_trajectory(dense) -> None:
    spec = stl.load(SPEC)
    loop, dyn, *_ = build(dense, spec, bind(spec), 12)
    c_lo, c_hi = np.array([0.0, -0.01, 0.01, 0.0]), np.array([0.004, -0.006, 0.014, 0.004])
    res = loop.run(c_lo[None], c_hi[None])
    rng = np.random.default_rng(0)
    s = c_lo + rng.uniform(size=(300, 4)) * (c_hi - c_lo)
    for t in range(13):
        obs = dyn.observe_float(s)
        assert np.all(res.obs_lo[0, t] <= obs) and np.all(obs <= res.obs_hi[0, t]), t
        with torch.no_grad():
            act = dense(torch.as_tensor(obs, dtype=torch.float32)).numpy().argmax(axis=1)
        s = np.concatenate([dyn.step_float(s[act == a], a) for a in (0, 1)])
    assert np.isfinite(res.obs_hi[0]).all()  # a real tube, not the whole line


def test_a_short_horizon_is_proved_on_the_whole_box(dense) -> None:
    spec = stl.load(SPEC)
    result = prove_closed_loop(dense, spec, bind(spec), ReachConfig(horizon=5, max_cells=1, replays=0))
    assert [r.verdict for r in result.requirements] == ["proved"] * 3
    for r in result.requirements:
        assert r.fractions == {"proved": 1.0, "refuted": 0.0, "unknown": 0.0}
        assert r.largest_horizon(0.99) == 5 and np.all(r.proved_by_horizon == 1.0)


def test_a_violating_loop_is_refuted_and_the_env_confirms_it(tmp_path) -> None:
    spec = stl.parse(SPEED_SPEC, "speed.stl")
    result = prove_closed_loop(push_right(), spec, bind(spec), ReachConfig(horizon=10, max_cells=1, replays=4))
    slow, near = result.requirements
    assert slow.verdict == "refuted" and slow.fractions["refuted"] == 1.0
    assert near.verdict == "proved"  # 10 steps of pushing cannot carry the cart past 2.4
    cex = slow.counterexamples[0]
    assert cex.robustness < 0 and cex.cell_status == "refuted"
    # the replay command's module, run on the same point, exits 1 (violated)
    from sanp.commands.reach_replay import main

    policy_file, spec_file = tmp_path / "right.onnx", tmp_path / "speed.stl"
    save(push_right(), policy_file)
    spec_file.write_text(SPEED_SPEC)
    point = ",".join(f"{k}={v!r}" for k, v in cex.point.items())
    assert main([str(policy_file), str(spec_file), "--horizon", "10", "--point", point]) == 1


def test_cli_closed_loop_report_and_plot(tmp_path, capsys) -> None:
    import jsonschema

    from sanp.cli import main
    from sanp.schemas import schema

    out, plots = tmp_path / "r.json", tmp_path / "plots"
    code = main(["prove", str(DENSE), str(SPEC), "--horizon", "4", "--no-split", "--json", str(out),
                 "--plots", str(plots)])
    assert code == 0
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, schema("sanp.prove/1"))
    block = doc["closed_loop"]
    assert block["horizon"] == 4 and {r["name"] for r in block["requirements"]} == {"position", "momentum", "angle"}
    assert sorted(p.name for p in plots.iterdir()) == ["angle_tube.png", "momentum_tube.png", "position_tube.png"]


def _policy_file(tmp_path: Path, obs: int, out: int) -> str:
    p = tmp_path / "p.onnx"
    save(MLPPolicy([obs, 4, out], action_kind="discrete"), p)
    return str(p)


@pytest.mark.parametrize("case", ["no_dynamics", "until", "properties"])
def test_cli_errors_are_one_line(tmp_path, capsys, case: str) -> None:
    from sanp.cli import main

    spec = tmp_path / "s.stl"
    args = ["--horizon", "3"]
    if case == "no_dynamics":
        spec.write_text("env Acrobot-v1\nhorizon 5\nsignal c = obs[0]\nreq up: always (c <= 2)\n")
        policy, want = _policy_file(tmp_path, 6, 3), "declares no dynamics"
    else:
        text = SPEED_SPEC
        if case == "until":
            text += "req odd: (abs(x) <= 1) until (abs(x) <= 2)\n"
        spec.write_text(text)
        policy = _policy_file(tmp_path, 4, 2)
        want = "`until` is not supported" if case == "until" else "--properties and --reference"
        if case == "properties":
            args += ["--properties", str(tmp_path / "p.json")]
    capsys.readouterr()
    code = main(["prove", policy, str(spec), *args])
    err = capsys.readouterr().err
    assert code == 2 and want in err and len(err.strip().splitlines()) == 1, err
