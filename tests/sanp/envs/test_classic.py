"""Classic control end to end: on each built-in env, `sanp verify` finds a
counterexample for a deliberately broken controller and none in a small budget for the
working one, and `sanp prune` prunes the working one at tiny budgets."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sanp.cli import main

SPECS = Path(__file__).resolve().parents[3] / "specs"
ENVS = [
    ("Pendulum-v1", "pendulum", ".pt"),
    ("MountainCar-v0", "mountain_car", ".onnx"),
    ("MountainCarContinuous-v0", "mountain_car_continuous", ".onnx"),
    ("Acrobot-v1", "acrobot", ".pt"),
]


@pytest.mark.parametrize("env_id, spec, ext", ENVS)
def test_verify_finds_the_broken_controller_and_passes_the_working_one(
    tmp_path, capsys, controller, save, env_id, spec, ext
):
    broken = save(controller(env_id, broken=True), tmp_path / f"broken{ext}", env_id)
    good = save(controller(env_id), tmp_path / f"good{ext}", env_id)
    args = [str(SPECS / f"{spec}.stl"), "--budget", "6", "--seed", "0"]
    assert main(["verify", str(broken), *args, "--json", str(tmp_path / "b.json")]) == 1
    found = json.loads((tmp_path / "b.json").read_text())["counterexamples"]
    assert found and all(c["min_robustness"] < 0 for c in found)
    assert main(["verify", str(good), *args, "--json", str(tmp_path / "g.json")]) == 0
    assert json.loads((tmp_path / "g.json").read_text())["counterexamples"] == []
    capsys.readouterr()


@pytest.mark.parametrize("env_id, spec, ext", ENVS)
def test_prune_runs(tmp_path, capsys, controller, save, env_id, spec, ext):
    text = (SPECS / f"{spec}.stl").read_text()
    if env_id == "Pendulum-v1":
        # The hand-built controller balances but cannot swing up under the env's gravity;
        # at g = 2 it can, so the reward cutoff (over the env's own starts) is reachable.
        text = text.replace("env Pendulum-v1", "env Pendulum-v1(g=2.0)")
    spec_path = tmp_path / f"{spec}.stl"
    spec_path.write_text(text)
    dense = save(controller(env_id), tmp_path / f"dense{ext}", env_id)
    out = tmp_path / "sparse.onnx"
    code = main(["prune", str(dense), str(spec_path), "-o", str(out), "--episodes", "10",
                 "--budget", "6", "--rounds", "2", "--round-uniform", "20",
                 "--heldout-budget", "6", "--heldout-uniform", "20", "--seed", "0", "--recipe", "paper",
                 "--margin", "0.3",  # 20 held-out points show nothing finer
                 "--report", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["final"]["sparsity"] > 0.5
    import onnxruntime as ort

    meta = ort.InferenceSession(str(out)).get_modelmeta().custom_metadata_map  # the output is compacted
    assert float(meta["sparsity_before_compaction"]) == pytest.approx(report["final"]["sparsity"], abs=1e-6)


def test_the_step_reward_bounds_are_the_envs_own_extremes():
    """A resumed prune refuses saved rewards outside these bounds, so they must hold:
    the worst Pendulum step (upside down, at the speed and torque limits) pays exactly
    the lower bound, and an episode's bounds scale with the horizon."""
    import gymnasium as gym
    import numpy as np

    from sanp.envs import bind

    pend = bind(env_id="Pendulum-v1")
    env = gym.make("Pendulum-v1").unwrapped
    env.reset(seed=0)
    env.state = np.array([np.pi, 8.0])
    _, reward, *_ = env.step(np.array([5.0]))  # clipped to the torque limit, 2
    assert reward == pytest.approx(pend.adapter.step_reward[0], abs=1e-9)
    assert pend.return_bounds == (pend.horizon * pend.adapter.step_reward[0], 0.0)
    cart = bind(env_id="CartPole-v1", horizon=200)
    assert cart.return_bounds == (-200.0, 200.0)
    assert bind(env_id="LunarLander-v3").return_bounds is None  # unknown: not checked
