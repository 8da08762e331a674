"""highway-env: the adapter's safety signals, deterministic resets from a point, replay
restore, env kwargs into highway-env's config, and `sanp verify` on a reckless policy."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("highway_env")

from sanp import rollout
from sanp.cli import main
from sanp.envs import bind
from sanp.formats.onnx_writer import export_onnx
from sanp.model import MLPPolicy

SPEC = Path(__file__).resolve().parents[3] / "specs" / "highway.stl"
FASTER, SLOWER = 3, 4


class Constant:
    """Always the same meta-action."""

    obs_dim, action_kind = 30, "discrete"

    def __init__(self, action: int):
        self.action = action

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), self.action, dtype=np.int64)


@pytest.fixture(scope="module")
def binding():
    import stl

    return bind(stl.load(SPEC))


def test_point_sets_the_traffic_and_the_signals_follow(binding):
    env = binding.make()
    obs = binding.reset(env, {"ego_speed": 28.0, "lead_gap": 30.0, "lead_speed": 20.0, "traffic_speed": 22.0})
    assert obs.shape == (30,) and binding.observation_space.shape == (30,)
    crashed, on_road, headway, accel, speed = obs[25:]
    assert (crashed, on_road, accel, speed) == (0.0, 1.0, 0.0, 28.0)
    assert headway == pytest.approx(30.0 / 28.0, rel=1e-6)
    base = env.unwrapped
    front, _ = base.road.neighbour_vehicles(base.vehicle, base.vehicle.lane_index)
    assert front.speed == 20.0 and front.target_speed == 20.0
    others = [v for v in base.road.vehicles if v not in (base.vehicle, front)]
    assert {v.speed for v in others} == {22.0}


def test_reset_is_deterministic_and_the_point_matters(binding):
    point = {"ego_speed": 25.0, "lead_gap": 40.0, "lead_speed": 24.0, "traffic_speed": 23.0}
    a, b = (rollout.run(Constant(1), binding, point) for _ in range(2))
    assert np.array_equal(a.observations, b.observations) and a.length == b.length
    c = rollout.run(Constant(1), binding, {**point, "lead_gap": 55.0})
    assert not np.array_equal(a.observations[0], c.observations[0])


def test_reckless_driving_crashes_and_braking_shows(binding):
    point = {"ego_speed": 30.0, "lead_gap": 25.0, "lead_speed": 18.0, "traffic_speed": 20.0}
    t = rollout.run(Constant(FASTER), binding, point)
    sig = t.signals(binding_spec())
    assert t.terminated and sig["crashed"][-1] == 1.0 and sig["crashed"][:-1].max() == 0.0
    assert sig["headway"][-1] <= 0 < sig["headway"][0]
    # SLOWER lowers the target one level (30 -> 25 m/s: about -4.3 m/s^2 over the step);
    # twice in a row is braking harder than the spec's 4.5 m/s^2
    slow = rollout.run(Constant(SLOWER), binding, {**point, "lead_gap": 60.0}).signals(binding_spec())
    assert sig["accel"][0] == 0.0 and -4.5 < slow["accel"][1] < -4.0 and slow["accel"][2] < -4.5
    assert np.allclose(np.diff(slow["speed"]), slow["accel"][1:], atol=1e-4)
    # replay restore reproduces the recorded steps
    cont = rollout.continue_batch(Constant(FASTER), binding, [(t, 2)])[0]
    assert np.array_equal(cont.observations, t.observations)


def binding_spec():
    import stl

    return stl.load(SPEC)


def test_env_line_kwargs_go_into_the_config(spec_from_text):
    text = SPEC.read_text().replace("env highway-fast-v0", "env highway-fast-v0(lanes_count=4, vehicles_count=8)")
    b = bind(spec_from_text(text))
    env = b.make()
    b.reset(env, None, seed=0)
    assert len(env.unwrapped.road.network.lanes_list()) == 4
    assert len(env.unwrapped.road.vehicles) == 9


def test_verify_falsifies_a_reckless_policy(tmp_path, capsys):
    pi = MLPPolicy([30, 8, 5], "relu", action_kind="discrete")
    with torch.no_grad():
        for lin in pi.layers:
            lin.weight.mul_(1e-3)
        pi.layers[-1].bias.copy_(torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0]))  # always FASTER
    export_onnx(pi, tmp_path / "reckless.onnx", {"env_id": "highway-fast-v0"})
    code = main(["verify", str(tmp_path / "reckless.onnx"), str(SPEC), "--budget", "3",
                 "--requirement", "no_collision", "--json", str(tmp_path / "v.json")])
    assert code == 1
    found = json.loads((tmp_path / "v.json").read_text())["counterexamples"]
    assert found and found[0]["min_robustness"] < 0
    capsys.readouterr()
