"""Disturbance signals bound to envs: the pieces are search dimensions after the initial
state's, each step takes the piece its docs name, a disturbance changes the trajectory
exactly as declared (CartPole's push against the env's equations, LunarLander's wind
against gymnasium's own wind, bit for bit), only in its pieces' steps, and disturbed
episodes restore and replay exactly."""
from __future__ import annotations

import re
import warnings

import gymnasium as gym
import numpy as np
import pytest

from sanp import banks, rollout
from sanp.envs import bind
from sanp.envs.disturbance import DisturbanceSignal
from sanp.errors import EnvError

LANDER = ("signal x = obs[0]\nsignal vx = obs[2]\nreq corridor: always (abs(x) <= 5)\n")
CARTPOLE = "signal x = obs[0]\nreq position: always (abs(x) <= 2.4)\n"


class Constant:
    """Takes the same action at every step (LunarLander: 0 = engines off)."""

    def __init__(self, binding, action):
        self.obs_dim = int(binding.observation_space.shape[0])
        self.action_kind = binding.action_kind
        self.action = np.asarray(action)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.repeat(self.action[None], len(obs), axis=0)


def _point(b, **values):
    """A point of `b`'s space with the given values (0 for the rest), with its reset seed."""
    return b.point([values.get(d.name.replace("[", "_").rstrip("]"), 0.0) for d in b.space])


# ------------------------------------------------------------------- the search space


def test_pieces_are_search_dimensions_after_the_initial_state(spec_from_text):
    b = bind(spec_from_text("env LunarLander-v3\nhorizon 100\nsearch push_x in [-1000, 1000]\n"
                            "disturb wind in [-15, 15] over 4 pieces\n"
                            "disturb turbulence in [-1, 1] over 2 pieces\n" + LANDER))
    assert [d.name for d in b.space] == ["push_x", "wind[0]", "wind[1]", "wind[2]", "wind[3]",
                                         "turbulence[0]", "turbulence[1]"]
    assert [d.name for d in b.state_space] == ["push_x"]
    assert b.bounds[1:5].tolist() == [[-15.0, 15.0]] * 4
    assert b.space[2].doc.startswith("wind over steps 25-49: horizontal force")
    # without search lines: the env's default search space, then the pieces
    b = bind(spec_from_text("env CartPole-v1\nhorizon 10\ndisturb push in [-3, 3] over 2 pieces\n" + CARTPOLE))
    assert [d.name for d in b.space] == ["x", "x_dot", "theta", "theta_dot", "push[0]", "push[1]"]


@pytest.mark.parametrize(("horizon", "pieces"), [(10, 3), (1000, 5), (7, 7), (200, 1), (999, 100)])
def test_each_step_takes_the_piece_whose_steps_its_dimension_names(horizon, pieces):
    s = DisturbanceSignal("wind", -1.0, 1.0, pieces)
    taken = [s.piece(t, horizon) for t in range(horizon)]
    for j, dim in enumerate(s.dimensions(horizon)):
        first, last = map(int, re.search(r"steps (\d+)-(\d+)", dim.doc).groups())
        assert [t for t in range(horizon) if taken[t] == j] == list(range(first, last + 1))


def test_an_unknown_disturbance_names_the_supported_ones(spec_from_text):
    with pytest.raises(EnvError, match=r"^w.stl:3:9: env LunarLander-v3 has no disturbance 'wnd' "
                                       r"\(did you mean 'wind'\?\); it supports: wind, turbulence$"):
        bind(spec_from_text("env LunarLander-v3\nhorizon 50\ndisturb wnd in [-1, 1] over 2 pieces\n" + LANDER,
                            "w.stl"))
    with pytest.raises(EnvError, match=r"env CartPole-v1 has no disturbance 'wind'; it supports: push$"):
        bind(spec_from_text("env CartPole-v1\ndisturb wind in [-1, 1] over 2 pieces\n" + CARTPOLE))
    with pytest.raises(EnvError, match=r"env Pendulum-v1 has no disturbance 'push'; it supports none"):
        bind(spec_from_text("env Pendulum-v1\ndisturb push in [-1, 1] over 2 pieces\n"
                            "signal th = obs[0]\nreq a: always (th <= 2)\n"))


def test_more_pieces_than_steps_is_refused(spec_from_text):
    with pytest.raises(EnvError, match="'push' has 11 pieces but the episode only 10 steps"):
        bind(spec_from_text("env CartPole-v1\nhorizon 10\ndisturb push in [-1, 1] over 11 pieces\n" + CARTPOLE))


def test_a_range_beyond_single_precision_is_refused(spec_from_text):
    """Box2D takes forces as single-precision floats: a larger one would fail mid-search."""
    with pytest.raises(EnvError, match=r"^t.stl:3:9: disturbance 'wind' range \[-1e\+39, 1\] is beyond"):
        bind(spec_from_text("env LunarLander-v3\nhorizon 10\ndisturb wind in [-1e39, 1] over 2 pieces\n" + LANDER))
    assert bind(spec_from_text("env LunarLander-v3\nhorizon 10\ndisturb wind in [-3e38, 1] over 2 pieces\n"
                               + LANDER)).disturbances[0].lo == -3e38


# ------------------------------------------------------------------- CartPole's push


def _cartpole_step(s: np.ndarray, force: float) -> np.ndarray:
    """CartPole's Euler step (gymnasium's constants), written out independently."""
    x, x_dot, th, th_dot = s
    g, mc, mp, half = 9.8, 1.0, 0.1, 0.5
    total, pml, tau = mc + mp, mp * half, 0.02
    temp = (force + pml * th_dot**2 * np.sin(th)) / total
    th_acc = (g * np.sin(th) - np.cos(th) * temp) / (half * (4.0 / 3.0 - mp * np.cos(th) ** 2 / total))
    x_acc = temp - pml * th_acc * np.cos(th) / total
    return np.array([x + tau * x_dot, x_dot + tau * x_acc, th + tau * th_dot, th_dot + tau * th_acc])


@pytest.mark.parametrize("action", [0, 1])
def test_cartpole_push_adds_to_the_force_in_its_piece_only(spec_from_text, action):
    b = bind(spec_from_text("env CartPole-v1\nhorizon 8\ndisturb push in [-10, 10] over 4 pieces\n" + CARTPOLE))
    pushed = rollout.run(Constant(b, action), b, _point(b, push_1=4.0))  # steps 2 and 3
    plain = rollout.run(Constant(b, action), b, _point(b))
    assert pushed.length == plain.length == 8
    assert np.array_equal(pushed.states[:3], plain.states[:3])
    force = 10.0 if action == 1 else -10.0
    for t in range(8):
        expected = _cartpole_step(pushed.states[t], force + (4.0 if t in (2, 3) else 0.0))
        np.testing.assert_allclose(pushed.states[t + 1], expected, rtol=0, atol=1e-12)
    assert pushed.states[3, 1] > plain.states[3, 1]  # pushed right: faster to the right


def test_the_array_stepper_equals_the_scalar_env_under_a_push(spec_from_text):
    b = bind(spec_from_text("env CartPole-v1\nhorizon 60\ndisturb push in [-6, 6] over 5 pieces\n" + CARTPOLE))
    assert banks.is_array_bank(b)
    rng = np.random.default_rng(3)
    points = b.uniform_points(4, rng)
    actions = rng.integers(0, 2, size=60)

    class Scripted(Constant):
        def act(self, obs):
            self.t = getattr(self, "t", -1) + 1
            return np.full(len(obs), actions[self.t])

    trajs = rollout.run_batch(Scripted(b, 0), b, points)
    for point, traj in zip(points, trajs):
        env = b.make()
        obs = [b.reset(env, point)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for t in range(traj.length):
                o, _, term, _, _ = b.step(env, int(actions[t]), point, t)
                obs.append(o)
        assert np.array_equal(np.asarray(obs, dtype=np.float32), traj.observations)
        assert term == traj.terminated


# ------------------------------------------------------------------- LunarLander's wind


@pytest.mark.parametrize(("kwargs", "noop"), [({}, 0), ({"continuous": True}, np.zeros(2, np.float32))])
def test_lunar_wind_is_applied_as_gymnasium_applies_its_own(kwargs, noop):
    """The same Box2D calls at the same moment as gymnasium's wind: an env whose own wind
    is silenced (power 0, so its random draws stay the same) but driven through
    `disturbed_step` with the values gymnasium's wind would have taken gives the same
    episode, bit for bit, as gymnasium's windy env, landing (no wind on the ground) included."""
    from sanp.envs.box2d import LunarLanderAdapter

    adapter = LunarLanderAdapter("LunarLander-v3", kwargs)
    windy = gym.make("LunarLander-v3", enable_wind=True, wind_power=15.0, turbulence_power=1.5,
                     **kwargs).unwrapped
    driven = gym.make("LunarLander-v3", enable_wind=True, wind_power=15.0, turbulence_power=1.5,
                      **kwargs).unwrapped
    a, _ = windy.reset(seed=11)
    b, _ = driven.reset(seed=11)
    driven.wind_power = driven.turbulence_power = 0.0
    assert np.array_equal(a, b)

    def gust(idx: int, power: float) -> float:
        return float(np.tanh(np.sin(0.02 * idx) + np.sin(np.pi * 0.01 * idx)) * power)

    contact = False
    for _ in range(400):
        values = {"wind": gust(windy.wind_idx, 15.0), "turbulence": gust(windy.torque_idx, 1.5)}
        a, ra, ta, _, _ = windy.step(noop)
        b, rb, tb, _, _ = adapter.disturbed_step(driven, noop, values)
        assert np.array_equal(a, b) and ra == rb and ta == tb
        contact |= bool(a[6] or a[7])
        if ta:
            break
    assert contact  # the lander reached the ground, where no wind blows
    windy.close()
    driven.close()


@pytest.mark.parametrize("head", ["env LunarLander-v3", "env LunarLander-v3(continuous=true)"])
def test_lunar_wind_blows_in_its_piece_only_and_in_its_direction(spec_from_text, head):
    b = bind(spec_from_text(head + "\nhorizon 60\nsearch push_x in [-1000, 1000]\n"
                            "disturb wind in [-20, 20] over 2 pieces\n" + LANDER))
    noop = 0 if b.action_kind == "discrete" else np.zeros(2, np.float32)
    seed_pinned = {"reset_seed": 5}  # the same terrain and dispersion for every run
    runs = {w: rollout.run(Constant(b, noop), b, {**_point(b, wind_1=w), **seed_pinned})
            for w in (-20.0, 0.0, 20.0)}
    plain = bind(spec_from_text(head + "\nhorizon 60\nsearch push_x in [-1000, 1000]\n" + LANDER))
    no_disturb = rollout.run(Constant(plain, noop), plain, {"push_x": 0.0, **seed_pinned})
    assert np.array_equal(runs[0.0].observations, no_disturb.observations)  # a zero wind is no wind
    for w in (-20.0, 20.0):  # steps 0-29 are piece 0 (no wind): the same observations up to step 30
        assert np.array_equal(runs[w].observations[:31], no_disturb.observations[:31])
        assert not np.array_equal(runs[w].observations[31], no_disturb.observations[31])
    vx = {w: runs[w].observations[-1, 2] for w in runs}
    assert vx[-20.0] < vx[0.0] < vx[20.0]


# ------------------------------------------------------------------- restore and replay


@pytest.mark.parametrize("head", ["env CartPole-v1\nhorizon 80\ndisturb push in [-8, 8] over 4 pieces\n",
                                  ("env LunarLander-v3(continuous=true)\nhorizon 80\n"
                                   "disturb wind in [-20, 20] over 4 pieces\n"
                                   "disturb turbulence in [-2, 2] over 3 pieces\n")])
def test_disturbed_episodes_restore_and_replay_exactly(spec_from_text, random_linear, linear_cartpole, head):
    """Recovery restarts a counterexample from its steps: by exact state (CartPole) or by
    replaying the reset and the actions (Box2D); both keep the disturbance in step."""
    tail = CARTPOLE if head.startswith("env CartPole") else LANDER
    b = bind(spec_from_text(head + tail))
    actor = linear_cartpole((0, 0, 1, 1)) if head.startswith("env CartPole") else random_linear(b, 1)
    point = b.uniform_points(1, np.random.default_rng(0))[0]
    traj = rollout.run(actor, b, point)
    assert traj.length > 40
    again = rollout.run(actor, b, point)
    assert np.array_equal(again.observations, traj.observations)
    for i in (0, 19, 20, 41, traj.length - 1):
        cont = rollout.continue_batch(actor, b, [(traj, i)])[0]
        assert np.array_equal(cont.observations, traj.observations)
        assert np.array_equal(cont.rewards, traj.rewards)
    # the undisturbed episode from the same start is another one
    bare = {k: v for k, v in point.items() if "[" not in k}
    assert not np.array_equal(rollout.run(actor, b, bare).observations[:40], traj.observations[:40])
