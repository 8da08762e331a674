"""The ARCH-COMP AINNCS envs (sanp/envs/arch.py) against the published dynamics
(each benchmark's dynamics.m, transcribed here independently of the env), integrated by
scipy at tolerance 1e-12; the declared model against the env step; the controllers'
input conventions; the specs parse and check; the controllers load and act in the env."""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import sanp.envs.arch as arch
import stl
from sanp.envs import bind
from sanp.envs.dynamics import dynamics_of, model_error

ROOT = Path(__file__).resolve().parents[3]
ARCH = ROOT.parent / "shared" / "fixtures" / "arch"
SPECS = {"ArchSinglePendulum-v0": "arch_single_pendulum", "ArchTORA-v0": "arch_tora", "ArchACC-v0": "arch_acc"}
FOLDER = {"ArchSinglePendulum-v0": "single_pendulum", "ArchTORA-v0": "tora", "ArchACC-v0": "acc"}


def _pendulum(t, x, a):  # dynamics_sp: l = 0.5, m = 0.5, g = 1, c = 0
    return [x[1], 1.0 / 0.5 * np.sin(x[0]) + (a - 0.0 * x[1]) / (0.5 * 0.5**2)]


def _tora(t, x, u):  # dynamics9: the network's output u, the plant applies u - 10
    return [x[1], -x[0] + 0.1 * np.sin(x[2]), x[3], u - 10.0]


def _acc(t, x, a_ego):  # dynamicsACC: mu = 0.0001, a_lead = -2
    mu = 0.0001
    return [x[1], x[2], -2 * x[2] + 2 * -2 - mu * x[1] ** 2, x[4], x[5], -2 * x[5] + 2 * a_ego - mu * x[4] ** 2]


PUBLISHED = {"ArchSinglePendulum-v0": (_pendulum, 0.05, (-1.0, 1.0)), "ArchTORA-v0": (_tora, 1.0, (8.0, 12.0)),
             "ArchACC-v0": (_acc, 0.1, (-3.0, 1.0))}


@pytest.mark.parametrize("env_id", sorted(PUBLISHED))
def test_the_env_step_is_the_published_ode_integrated(env_id):
    f, period, (a_lo, a_hi) = PUBLISHED[env_id]
    env = gym.make(env_id).unwrapped
    rng = np.random.default_rng(0)
    worst = 0.0
    for episode in range(4):
        env.reset(seed=episode)
        x = env.state.copy()
        for _ in range(5):  # five control periods, a new action each
            a = np.float32(rng.uniform(a_lo, a_hi))
            env.step(np.array([a]))
            ref = solve_ivp(f, (0.0, period), x, args=(float(a),), method="DOP853", rtol=1e-12, atol=1e-12)
            x = ref.y[:, -1]
            worst = max(worst, float(np.max(np.abs(env.state - x))))
    assert worst <= 1e-6


@pytest.mark.parametrize("env_id", sorted(PUBLISHED))
def test_the_declared_model_is_the_env_step(env_id):
    b = bind(env_id=env_id)
    dyn = dynamics_of(b)
    lo, hi = np.array(arch.INITIAL[env_id]).T
    rng = np.random.default_rng(1)
    states = rng.uniform(lo - 0.5, hi + 0.5, size=(30, len(lo)))
    actions = [rng.uniform(-5, 15, size=1).astype(np.float32) for _ in range(30)]
    assert dyn.time == "continuous" and dyn.period == PUBLISHED[env_id][1]
    assert model_error(dyn, b.adapter, states, actions) <= 1e-9


def test_the_controllers_inputs_and_tora_offset_follow_the_specifications():
    env = gym.make("ArchACC-v0").unwrapped
    obs, _ = env.reset(options={"state": [100.0, 32.1, 0.0, 10.5, 30.1, 0.0]})
    np.testing.assert_allclose(obs, [30.0, 1.4, 30.1, 89.5, 2.0], rtol=1e-6)
    tora = gym.make("ArchTORA-v0").unwrapped
    tora.reset(options={"state": [0.0, 0.0, 0.0, 0.5]})
    tora.step(np.array([10.0], np.float32))  # f(x) = 10 is u = 0: x4 keeps its value
    assert tora.state[3] == pytest.approx(0.5, abs=1e-12) and tora.state[2] == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("env_id", sorted(PUBLISHED))
def test_the_episode_is_the_benchmark_horizon_and_the_search_its_initial_set(env_id):
    assert gym.spec(env_id).max_episode_steps == arch.HORIZON[env_id]
    spec = stl.load(ROOT / "specs" / f"{SPECS[env_id]}.stl")
    b = bind(spec)
    assert spec.env_id == env_id and b.horizon == arch.HORIZON[env_id]
    box = dict(zip(arch.DYNAMICS[env_id].state_names, arch.INITIAL[env_id]))
    assert {d.name: (d.lo, d.hi) for d in b.space} == {k: v for k, v in box.items() if v[1] > v[0]}


@pytest.mark.skipif(not (ARCH / "tora" / "controller.onnx").exists(),
                    reason="needs ../shared/fixtures/arch (the ARCH-COMP controllers, absent from a clone)")
@pytest.mark.parametrize("env_id", sorted(PUBLISHED))
def test_the_controllers_load_and_act_in_their_env(env_id):
    from sanp.formats import load
    from sanp.rollout import run
    from sanp.runtime import deployed

    spec = stl.load(ROOT / "specs" / f"{SPECS[env_id]}.stl")
    b = bind(spec)
    policy = load(ARCH / FOLDER[env_id] / "controller.onnx", action_space=b.action_space)
    traj = run(deployed(policy), b, b.point(b.bounds.mean(axis=1)))
    assert traj.length == arch.HORIZON[env_id] and not traj.nonfinite
    # the controller acts on what it observes: its actions vary along the episode
    assert np.ptp(traj.actions) > 1e-3


@pytest.mark.parametrize("env_id", sorted(PUBLISHED))
def test_sanp_check_accepts_the_specs(capsys, env_id):
    from tests.sanp.cli_run import cli

    code, out, err = cli(capsys, "check", ROOT / "specs" / f"{SPECS[env_id]}.stl")
    assert code == 0 and f"env {env_id}, horizon {arch.HORIZON[env_id]}" in out, err


@pytest.mark.skipif(not (ARCH / "single_pendulum" / "controller.onnx").exists(),
                    reason="needs ../shared/fixtures/arch (the ARCH-COMP controllers, absent from a clone)")
def test_the_pendulum_reproduces_the_published_verdicts_of_both_initial_sets():
    """From (1.2, 0.2), the corner of the 2021 initial set [1, 1.2] x [0, 0.2], the
    published falsification: x1 leaves [0, 1] in 0.5 s <= t <= 1 s. From (1.175, 0.2),
    the corner of the 2024 set, it stays inside (the verification instance)."""
    from sanp.formats import load
    from sanp.rollout import run
    from sanp.runtime import deployed

    spec = stl.load(ROOT / "specs" / "arch_single_pendulum.stl")
    b = bind(spec)
    actor = deployed(load(ARCH / "single_pendulum" / "controller.onnx", action_space=b.action_space))
    peak = {x1: run(actor, b, {"x1": x1, "x2": 0.2}).observations[10:21, 0].max() for x1 in (1.2, 1.175)}
    assert peak[1.2] > 1.0 > peak[1.175]


@pytest.mark.skipif(not (ARCH / "single_pendulum" / "controller.onnx").exists(),
                    reason="needs ../shared/fixtures/arch (the ARCH-COMP controllers, absent from a clone)")
def test_the_pendulum_is_proved_over_its_horizon_from_its_whole_initial_set(capsys):
    """The published controller keeps x1 in [0, 1] at every control instant of
    0.5 s <= t <= 1 s from the whole 2024 initial set (box sets: a few hundred cells, faster
    here than the zonotope sets `auto` picks, which prove it as one cell)."""
    from tests.sanp.cli_run import cli

    code, out, err = cli(capsys, "prove", ARCH / "single_pendulum" / "controller.onnx",
                         ROOT / "specs" / "arch_single_pendulum.stl", "--horizon", 20, "--depth", 10,
                         "--sets", "box")
    assert code == 0, out + err
    assert "proved" in out and "100.0%" in out
