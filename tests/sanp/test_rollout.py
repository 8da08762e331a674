"""Rollouts: restoring any step of a trajectory reproduces the rest of it exactly (all
three envs, by continue_batch and by restore), the batched CartPole stepper equals
gymnasium's CartPoleEnv bit for bit, signal alignment, early termination, and NaN
actions (never scored as safe)."""
from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import stl
from sanp import rollout
from sanp.envs import bind
from sanp.errors import EnvError
from sanp.falsify import score
from sanp.types import RESET_SEED

TAIL = "signal x = obs[0]\nsignal a = action[0]\nsignal r = reward\nreq q: always (abs(x) <= 100)\n"


class Replay:
    """Replays recorded actions, starting at the step it is asked at (one episode)."""

    def __init__(self, binding, actions: np.ndarray, start: int):
        self.obs_dim = int(binding.observation_space.shape[0])
        self.action_kind = binding.action_kind
        self.actions, self.t = actions, start

    def act(self, obs: np.ndarray) -> np.ndarray:
        assert len(obs) == 1
        assert self.t < len(self.actions), "asked for an action after the recorded episode ended"
        a = self.actions[self.t : self.t + 1]
        self.t += 1
        return a


# Each case: spec head, actor seed, point. The CartPole actor only damps the pole's
# rate, so the cart drifts off the track: a terminated episode with exact states.
CASES = {
    "cartpole": ("env CartPole-v1\nhorizon 200\n", None,
                 {"x": 0.01, "x_dot": 0.02, "theta": -0.03, "theta_dot": 0.04}),
    "lunar-continuous": ("env LunarLander-v3(continuous=true)\nhorizon 90\n", 1,
                         {"push_x": 300.0, "push_y": -200.0}),
    "lunar-discrete": ("env LunarLander-v3\nhorizon 90\n", 1, {"push_x": -500.0, "push_y": 100.0}),
    "bipedal": ("env BipedalWalker-v3\nhorizon 70\n", 2, {"push_x": 3.0}),
}


@pytest.fixture(params=list(CASES))
def recorded(request, spec_from_text, random_linear, linear_cartpole):
    head, seed, point = CASES[request.param]
    spec = spec_from_text(head + TAIL)
    b = bind(spec)
    actor = linear_cartpole((0, 0, 0, 1)) if seed is None else random_linear(b, seed)
    traj = rollout.run(actor, b, point)
    assert traj.length > 20 and not traj.nonfinite
    return request.param, spec, b, traj


def _same(a, b) -> None:
    assert np.array_equal(a.observations, b.observations)
    assert np.array_equal(a.actions, b.actions)
    assert np.array_equal(a.rewards, b.rewards)
    assert (a.terminated, a.truncated, a.nonfinite) == (b.terminated, b.truncated, b.nonfinite)
    if a.states is not None:
        assert np.array_equal(a.states, b.states)


def test_continue_batch_from_any_step_reproduces_the_trajectory(recorded):
    name, _, b, traj = recorded
    assert (traj.states is not None) == (name == "cartpole")  # exact states only for CartPole
    steps = [0, 1, 7, traj.length // 2, traj.length - 1]
    for i in steps:
        _same(rollout.continue_batch(Replay(b, traj.actions, i), b, [(traj, i)])[0], traj)
    # the same episode run again is identical too
    _same(rollout.run(Replay(b, traj.actions, 0), b, traj.point), traj)


def test_restore_then_step_the_env_reproduces_the_trajectory(recorded):
    _, _, b, traj = recorded
    for i in (0, 5, traj.length // 2, traj.length - 1, traj.length):
        env = b.make()
        obs = [rollout.restore(b, env, traj, i)]
        rewards = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for t in range(i, traj.length):
                o, r, term, _, _ = env.step(traj.actions[t])
                obs.append(o)
                rewards.append(r)
                assert term == (t == traj.length - 1 and traj.terminated)
        assert np.array_equal(np.array(obs, dtype=np.float32), traj.observations[i:])
        assert np.array_equal(np.array(rewards, dtype=np.float64), traj.rewards[i:])


def test_continue_batch_many_starts_together(recorded):
    """Several restore points of one trajectory run as one batch: every result keeps
    the prefix and is a valid continuation of the actor from that state."""
    _, _, b, traj = recorded

    class Hold:  # a different actor: the continuations diverge from the recording
        obs_dim, action_kind = b.observation_space.shape[0], b.action_kind

        def act(self, obs):
            if b.action_kind == "discrete":
                return np.zeros(len(obs), dtype=np.int64)
            return np.zeros((len(obs), b.action_space.shape[0]), dtype=np.float32)

    steps = [3, 10, traj.length - 2]
    together = rollout.continue_batch(Hold(), b, [(traj, i) for i in steps])
    for i, tr in zip(steps, together):
        assert np.array_equal(tr.observations[: i + 1], traj.observations[: i + 1])
        assert np.array_equal(tr.actions[:i], traj.actions[:i])
        assert tr.length <= b.horizon and (tr.terminated or tr.length == b.horizon)
        _same(tr, rollout.continue_batch(Hold(), b, [(traj, i)])[0])  # alone == in a batch


def test_continue_batch_rejects_steps_outside_the_trajectory(recorded):
    _, _, b, traj = recorded
    for i in (-1, traj.length + 1):
        with pytest.raises(EnvError, match=f"cannot restore step {i} of a {traj.length}-step"):
            rollout.continue_batch(Replay(b, traj.actions, 0), b, [(traj, i)])


def test_replay_divergence_is_detected(spec_from_text, random_linear):
    b = bind(spec_from_text(CASES["lunar-continuous"][0] + TAIL))
    traj = rollout.run(random_linear(b, 1), b, {"push_x": 300.0, "push_y": -200.0})
    forged = rollout.Trajectory(traj.point, traj.seed, traj.observations + np.float32(0.5),
                                traj.actions, traj.rewards, traj.terminated, traj.truncated)
    with pytest.raises(EnvError, match="diverged at step 10"):
        rollout.continue_batch(random_linear(b, 1), b, [(forged, 10)])


def test_continue_from_the_last_step_of_a_truncated_continuous_episode(spec_from_text, random_linear):
    b = bind(spec_from_text(CASES["lunar-continuous"][0] + TAIL))
    traj = rollout.run(random_linear(b, 1), b, {"push_x": 300.0, "push_y": -200.0})
    assert traj.truncated and traj.length == b.horizon
    _same(rollout.continue_batch(random_linear(b, 1), b, [(traj, traj.length)])[0], traj)


def test_continue_from_the_terminal_state_adds_nothing(spec_from_text, linear_cartpole):
    b = bind(spec_from_text(CASES["cartpole"][0] + TAIL))
    actor = linear_cartpole((0, 0, 0, 1))
    traj = rollout.run(actor, b, CASES["cartpole"][2])
    assert traj.terminated and traj.length < b.horizon
    _same(rollout.continue_batch(actor, b, [(traj, traj.length)])[0], traj)


# ------------------------------------------------------- CartPole bank == gymnasium


class Chaotic:
    """A stabilising bang-bang controller whose action is flipped where a fine grid
    cell of the observation says so (about one step in six): deterministic, yet both
    actions, early failures and full-horizon episodes all occur."""

    obs_dim, action_kind = 4, "discrete"

    def act(self, obs):
        obs = np.asarray(obs, dtype=np.float64)
        good = obs @ [1.0, 1.0, 10.0, 2.0] > 0
        flip = np.floor(np.abs(obs) @ [1e4, 3e3, 7e3, 1e3]) % 6 == 0
        return (good ^ flip).astype(np.int64)


def _scalar_episode(env, actor, point, seed, horizon):
    env.reset(seed=seed)
    if point is not None:
        env.state = np.array([v for k, v in point.items() if k != RESET_SEED], dtype=np.float64)
        env.steps_beyond_terminated = None
    obs, states, rewards, term = [np.array(env.state, dtype=np.float32)], [np.array(env.state)], [], False
    for _ in range(horizon):
        a = int(actor.act(obs[-1][None])[0])
        o, r, term, _, _ = env.step(a)
        obs.append(o)
        states.append(np.array(env.state))
        rewards.append(r)
        if term:
            break
    return np.array(obs), np.array(states), np.array(rewards, dtype=np.float64), term


@pytest.mark.parametrize("sutton", [False, True])
def test_batched_cartpole_equals_gymnasium_bit_for_bit(spec_from_text, sutton):
    kw = "(sutton_barto_reward=true)" if sutton else ""
    b = bind(spec_from_text(f"env CartPole-v1{kw}\nhorizon 120\n" + TAIL))
    rng = np.random.default_rng(11)
    scale = np.array([1.0, 0.5, 0.1, 0.5])
    points = [b.point(rng.uniform(-1, 1, 4) * scale) for _ in range(150)] + [None] * 6
    seeds = [b.seed_of(p) for p in points[:150]] + list(range(100, 106))
    trajs = rollout.run_batch(Chaotic(), b, points, seeds)
    env = gym.make("CartPole-v1", sutton_barto_reward=sutton).unwrapped
    lengths = []
    for p, s, tr in zip(points, seeds, trajs):
        obs, states, rewards, term = _scalar_episode(env, Chaotic(), p, s, b.horizon)
        assert np.array_equal(tr.observations, obs)
        assert np.array_equal(tr.states, states)
        assert np.array_equal(tr.rewards, rewards)
        assert tr.terminated == term and tr.truncated == (not term)
        lengths.append(tr.length)
    # the batch mixed early terminations and full-horizon episodes
    assert min(lengths) < 20 and max(lengths) == b.horizon


# ------------------------------------------------------------- signals, termination


def test_signals_alignment(spec_from_text, random_linear):
    spec = spec_from_text("env LunarLander-v3(continuous=true)\nhorizon 40\nsignal vy = obs[3]\n"
                          "signal main = action[0]\nsignal side = action[1]\nsignal r = reward\n"
                          "req q: always (abs(vy) <= 100)\n")
    b = bind(spec)
    traj = rollout.run(random_linear(b, 1), b, {"push_x": 0.0, "push_y": 0.0})
    T = traj.length
    assert T == 40 and traj.observations.shape == (T + 1, 8) and traj.actions.shape == (T, 2)
    sig = traj.signals(spec)
    assert set(sig) == {"vy", "main", "side", "r"}
    assert all(v.shape == (T + 1,) and v.dtype == np.float64 for v in sig.values())
    assert np.array_equal(sig["vy"], traj.observations[:, 3].astype(np.float64))
    assert sig["r"][0] == 0.0 and np.array_equal(sig["r"][1:], traj.rewards)
    assert np.array_equal(sig["main"][:T], traj.actions[:, 0]) and sig["main"][T] == traj.actions[-1, 0]
    assert np.array_equal(sig["side"][:T], traj.actions[:, 1]) and sig["side"][T] == traj.actions[-1, 1]
    assert traj.total_reward == pytest.approx(sig["r"].sum())


def test_early_termination_keeps_the_terminal_observation(spec_from_text):
    spec = spec_from_text("env CartPole-v1\nhorizon 200\nsignal theta = obs[2]\nsignal a = action\n"
                          "signal r = reward\nreq angle: always (abs(theta) <= 0.2)\n")
    b = bind(spec)

    class Right:
        obs_dim, action_kind = 4, "discrete"

        def act(self, obs):
            return np.ones(len(obs), dtype=np.int64)

    traj = rollout.run(Right(), b, {"x": 0.0, "x_dot": 0.0, "theta": 0.0, "theta_dot": 0.0})
    assert traj.terminated and not traj.truncated and 5 < traj.length < 20
    assert len(traj.observations) == traj.length + 1 == len(traj.states)
    # the last observation is the one beyond the threshold (the pole fell to the left)
    assert traj.observations[-1, 2] < -b.adapter.make().theta_threshold_radians
    assert np.all(np.abs(traj.observations[:-1, 2]) <= 0.2095)
    sig = traj.signals(spec)
    assert sig["theta"][-1] == traj.observations[-1, 2] and np.all(sig["a"] == 1)
    assert np.array_equal(sig["r"], np.r_[0.0, np.ones(traj.length)])
    assert score(spec, ["angle"], traj)["angle"] < 0


def test_horizon_truncates(cartpole_spec, linear_cartpole):
    b = bind(cartpole_spec, horizon=37)
    traj = rollout.run(linear_cartpole((1, 1, 10, 2)), b, b.point([0.01] * 4))
    assert traj.length == 37 and traj.truncated and not traj.terminated
    assert traj.total_reward == 37.0


def test_returns_are_seeded_episode_returns(cartpole_spec, linear_cartpole):
    b = bind(cartpole_spec)
    actor = linear_cartpole((0, 0, 0.3, 1))
    r = rollout.returns(actor, b, episodes=7, seed=4, batch=3)
    singles = [rollout.run(actor, b, None, seed=s).total_reward for s in range(4, 11)]
    assert np.array_equal(r, singles)
    assert np.array_equal(r, rollout.returns(actor, b, episodes=7, seed=4))  # batch size is irrelevant
    assert len(set(r)) > 1  # the seeds matter


# -------------------------------------------------------------------- NaN actions


class NaNAfter:
    """Continuous LunarLander actor: engines off for `k` steps, then NaN."""

    obs_dim, action_kind = 8, "continuous"

    def __init__(self, k: int, batch: int = 1):
        self.k, self.t, self.batch = k, 0, batch

    def act(self, obs):
        self.t += 1
        a = np.zeros((len(obs), 2), dtype=np.float32)
        if self.t > self.k and len(obs) == self.batch:
            a[0] = np.nan  # the first episode of the batch only
        return a


LUNAR = "env LunarLander-v3(continuous=true)\nhorizon 50\nsignal y = obs[1]\nreq up: always (y >= -10)\n"


def test_nan_action_marks_nonfinite_and_scores_minus_inf(spec_from_text):
    spec = spec_from_text(LUNAR)
    b = bind(spec)
    p = [{"push_x": 0.0, "push_y": 0.0}, {"push_x": 10.0, "push_y": 0.0}]
    bad, good = rollout.run_batch(NaNAfter(5, batch=2), b, p)
    assert bad.nonfinite and not bad.terminated and not bad.truncated
    assert bad.length == 5 and len(bad.observations) == 6 and np.all(np.isfinite(bad.actions))
    # the other episode of the batch is unaffected
    assert not good.nonfinite and good.length == 50 and score(spec, ["up"], good)["up"] > 0
    # the prefix alone would be safe: the NaN makes it -inf, never safe
    assert stl.robustness(spec.requirements["up"], bad.signals(spec))[0] > 0
    assert score(spec, ["up"], bad) == {"up": float("-inf")}
    assert np.isnan(rollout.returns(NaNAfter(3), b, episodes=1)[0])


def test_nan_at_the_first_step(spec_from_text):
    spec = spec_from_text(LUNAR)
    b = bind(spec)
    traj = rollout.run(NaNAfter(0), b, {"push_x": 0.0, "push_y": 0.0})
    assert traj.nonfinite and traj.length == 0
    assert score(spec, ["up"], traj) == {"up": float("-inf")}


def test_onnxruntime_episodes_do_not_depend_on_the_batch():
    # Box2D amplifies last-bit differences, and torch's matmul results depend on the batch
    # size; sanp runs every rollout of verify and prune through onnxruntime, whose results
    # do not. An episode must be the same alone and inside any batch.
    from pathlib import Path

    import stl
    from sanp import rollout as ro
    from sanp.envs import bind
    from sanp.formats import load
    from sanp.runtime import deployed

    root = Path(__file__).resolve().parents[2]
    b = bind(stl.load(root / "specs" / "bipedal_walker.stl"), horizon=300)
    actor = deployed(load(root / "zoo" / "bipedal_walker" / "dense.onnx"))
    points = [b.point(x) for x in np.random.default_rng(1).uniform(b.bounds[:, 0], b.bounds[:, 1], size=(5, 2))]
    together = ro.run_batch(actor, b, points)
    for p, t in zip(points, together):
        alone = ro.run(actor, b, p)
        assert np.array_equal(alone.observations, t.observations)


@pytest.mark.parametrize("head, per_task", [
    ("env CartPole-v1\nhorizon 200\n", rollout.CARTPOLE_TASK),
    ("env LunarLander-v3(continuous=true)\nhorizon 1000\n", 16),
    ("env BipedalWalker-v3\nhorizon 1600\n", 10),
    ("env BipedalWalker-v3\nhorizon 70\n", 229),
])
def test_task_slices_cover_the_batch_in_order(spec_from_text, head, per_task):
    """Parallel backends run these slices; they depend on the batch alone."""
    b = bind(spec_from_text(head + TAIL))
    for n in (1, 2, per_task, per_task + 1, 10 * per_task + 3):
        slices = rollout.task_slices(b, n)
        assert [i for s in slices for i in range(n)[s]] == list(range(n))
        assert len(slices) == -(-n // per_task)
        assert max(s.stop - s.start for s in slices) <= per_task
