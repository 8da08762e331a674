"""Three ARCH-COMP AINNCS benchmarks (neural-network control systems) as gymnasium envs:
`ArchSinglePendulum-v0`, `ArchTORA-v0` and `ArchACC-v0`, with their sanp adapters and
declared dynamics (`sanp.envs.dynamics`), so that `sanp verify` falsifies and
`sanp prove --horizon` bounds the closed loop of the published controllers.

Each plant is its published continuous-time vector field (the benchmark's `dynamics.m`),
written once as `field(state, action, ops)`; the env holds the action for one control
period and integrates the field with classic Runge-Kutta (RK4) at a fixed step of
period / `substeps` (h = 5 ms, 20 ms and 10 ms), the same code as the declared model's
float view. Against an adaptive integration at tolerance 1e-12 (scipy's DOP853), five
periods agree to within 1e-10, 6e-9 and 1.3e-9 (tests/sanp/envs/test_arch.py checks
1e-6). An episode is the benchmark's time horizon; an observation is what the
controller reads:

| env | state | observation (controller input) | action | period | horizon |
|---|---|---|---|---|---|
| ArchSinglePendulum-v0 | x1 (angle), x2 | (x1, x2) | torque | 0.05 s | 20 steps (1 s) |
| ArchTORA-v0 | x1..x4 | (x1, x2, x3, x4) | f(x); the plant applies u = f(x) - 10 | 1 s | 20 steps (20 s) |
| ArchACC-v0 | x_lead, v_lead, gamma_lead, x_ego, v_ego, gamma_ego | (v_set = 30, T_gap = 1.4, v_ego, x_lead - x_ego, v_lead - v_ego) | a_ego | 0.1 s | 50 steps (5 s) |

The initial sets of the benchmarks are the adapters' search ranges and the env's own
reset distribution (uniform). Actions are unbounded, as in the benchmarks; the reward is
0 (the benchmarks state properties, not rewards).

Example:
    >>> import gymnasium as gym, sanp.envs.arch
    >>> env = gym.make("ArchTORA-v0")
    >>> obs, _ = env.reset(seed=0)
    >>> obs, reward, terminated, truncated, info = env.step([10.0])   # u = 0
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from sanp.envs.dynamics import FLOAT_OPS, Dynamics, State, rk4
from sanp.envs.state import StateAdapter


class SinglePendulumDynamics(Dynamics):
    """Single pendulum (ARCH-COMP AINNCS): l = 0.5, m = 0.5, g = 1, c = 0;
    x1' = x2, x2' = g/l sin(x1) + (u - c x2) / (m l^2)."""

    state_names = ("x1", "x2")
    time = "continuous"
    period = 0.05
    substeps = 10
    l, m, g, c = 0.5, 0.5, 1.0, 0.0

    def field(self, state: State, action: Any, ops: Any) -> State:
        x1, x2 = state
        return (x2, self.g / self.l * ops.sin(x1) + (action[0] - self.c * x2) / (self.m * self.l**2))


class ToraDynamics(Dynamics):
    """TORA, the translational oscillator with a rotational actuator (benchmark 9):
    x1' = x2, x2' = -x1 + 0.1 sin(x3), x3' = x4, x4' = u with u = f(x) - 10, f the
    network's output (the action)."""

    state_names = ("x1", "x2", "x3", "x4")
    time = "continuous"
    period = 1.0
    substeps = 50
    offset = np.float64(10.0)  # a numpy float64: a float32 action minus it stays float64

    def field(self, state: State, action: Any, ops: Any) -> State:
        x1, x2, x3, x4 = state
        return (x2, -x1 + 0.1 * ops.sin(x3), x4, action[0] - self.offset)


class AccDynamics(Dynamics):
    """Adaptive cruise control: lead and ego car, each x' = v, v' = gamma,
    gamma' = -2 gamma + 2 a - mu v^2 (mu = 1e-4), the lead braking at a_lead = -2 and the
    ego accelerating at the network's a_ego. The network reads
    (v_set, T_gap, v_ego, D_rel, v_rel) = (30, 1.4, v_ego, x_lead - x_ego, v_lead - v_ego)."""

    state_names = ("x_lead", "v_lead", "gamma_lead", "x_ego", "v_ego", "gamma_ego")
    time = "continuous"
    period = 0.1
    substeps = 10
    mu, a_lead, v_set, t_gap = 1e-4, -2.0, 30.0, 1.4

    def field(self, state: State, action: Any, ops: Any) -> State:
        x_lead, v_lead, g_lead, x_ego, v_ego, g_ego = state
        return (v_lead, g_lead, -2.0 * g_lead + 2.0 * self.a_lead - self.mu * ops.square(v_lead),
                v_ego, g_ego, -2.0 * g_ego + 2.0 * action[0] - self.mu * ops.square(v_ego))

    def observe(self, state: State, ops: Any) -> State:
        x_lead, v_lead, _, x_ego, v_ego, _ = state
        return (ops.f32(0.0 * v_ego + self.v_set), ops.f32(0.0 * v_ego + self.t_gap), ops.f32(v_ego),
                ops.f32(x_lead - x_ego), ops.f32(v_lead - v_ego))


# the benchmarks' initial sets (specifications.txt), in state order
INITIAL: dict[str, tuple[tuple[float, float], ...]] = {
    "ArchSinglePendulum-v0": ((1.0, 1.175), (0.0, 0.2)),
    "ArchTORA-v0": ((0.6, 0.7), (-0.7, -0.6), (-0.4, -0.3), (0.5, 0.6)),
    "ArchACC-v0": ((90.0, 110.0), (32.0, 32.2), (0.0, 0.0), (10.0, 11.0), (30.0, 30.2), (0.0, 0.0)),
}
DYNAMICS: dict[str, type[Dynamics]] = {
    "ArchSinglePendulum-v0": SinglePendulumDynamics,
    "ArchTORA-v0": ToraDynamics,
    "ArchACC-v0": AccDynamics,
}
HORIZON = {"ArchSinglePendulum-v0": 20, "ArchTORA-v0": 20, "ArchACC-v0": 50}
"""Control steps in the benchmark's time horizon: 1 s, 20 s and 5 s."""


class ArchEnv(gym.Env):
    """A plant of `DYNAMICS` under a controller acting every `period` seconds. The state
    is `env.state` (float64); `reset(options={"state": [...]})` starts from a given one."""

    metadata = {"render_modes": []}
    benchmark = ""

    def __init__(self, render_mode: str | None = None):
        self.dynamics = DYNAMICS[self.benchmark]()
        self.initial = np.array(INITIAL[self.benchmark], dtype=np.float64)
        n_obs = len(self.dynamics.observe(tuple(self.initial[:, 0:1]), FLOAT_OPS))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n_obs,), np.float32)
        self.action_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
        self.render_mode = render_mode
        self.state = self.initial[:, 0].copy()

    def reset(self, *, seed: int | None = None, options: Mapping[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        given = (options or {}).get("state")
        if given is None:
            self.state = self.np_random.uniform(self.initial[:, 0], self.initial[:, 1])
        else:
            self.state = np.array(given, dtype=np.float64).reshape(len(self.initial))
        return self._get_obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        dyn = self.dynamics
        act = tuple(np.asarray(action).reshape(-1, 1))
        start = tuple(np.asarray([v]) for v in self.state)
        nxt = rk4(lambda s: dyn.field(s, act, FLOAT_OPS), start, float(dyn.period), dyn.substeps)
        self.state = np.array([float(np.asarray(c).reshape(-1)[0]) for c in nxt])
        return self._get_obs(), 0.0, False, False, {}

    def _get_obs(self) -> np.ndarray:
        comps = self.dynamics.observe(tuple(np.asarray([v]) for v in self.state), FLOAT_OPS)
        return np.array([np.asarray(c).reshape(-1)[0] for c in comps], dtype=np.float32)


class ArchAdapter(StateAdapter):
    """Search over a benchmark's initial state (its components named as in the
    benchmark); the state is restored exactly. Components the benchmark fixes (ACC's
    accelerations) are not searched by default."""

    step_reward = (0.0, 0.0)

    def __init__(self, env_id: str, kwargs: Mapping[str, Any]):
        self.names = DYNAMICS[env_id].state_names
        self.ranges = INITIAL[env_id]
        self.default_search = tuple(n for n, (lo, hi) in zip(self.names, self.ranges) if hi > lo)
        super().__init__(env_id, kwargs)

    @classmethod
    def dynamics(cls, env_id: str, kwargs: Mapping[str, Any]) -> Dynamics:
        return DYNAMICS[env_id]()


class ArchSinglePendulum(ArchEnv):
    benchmark = "ArchSinglePendulum-v0"


class ArchTora(ArchEnv):
    benchmark = "ArchTORA-v0"


class ArchAcc(ArchEnv):
    benchmark = "ArchACC-v0"


for _cls in (ArchSinglePendulum, ArchTora, ArchAcc):
    if _cls.benchmark not in gym.registry:
        gym.register(_cls.benchmark, entry_point=f"{__name__}:{_cls.__name__}",
                     max_episode_steps=HORIZON[_cls.benchmark])
