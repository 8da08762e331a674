"""Declared one-step dynamics: an env's equations in a form a reachability engine can bound.

A `Dynamics` writes the env's update once, against an `ops` namespace, so that the same
code runs on floats (`FLOAT_OPS`: numpy, to check the model against the real env step)
and on sets (`sanp.reach.interval.INTERVAL_OPS`: intervals with outward rounding, for
`sanp prove --horizon`). A state is a tuple of components, each a float array [N] or an
interval over N cells; arithmetic uses the operators (+ - * / and ** 2) and everything
else goes through `ops`:

    ops.sin ops.cos ops.sqrt ops.square ops.abs ops.minimum ops.maximum ops.clip
    ops.le ops.lt ops.ge ops.gt ops.and_ ops.or_ ops.where   (conditions and selection)
    ops.f32                                                   (a cast to float32)

Discrete time: `step(state, action, ops)` returns the next state. Continuous time:
`field(state, action, ops)` returns the derivative, and the env applies the action for
`period` seconds; the engine integrates it soundly (`sanp.reach.integrate`) and
`step_float` with `substeps` Runge-Kutta steps for float checks. `observe(state, ops)`
maps a state to the policy's observation. A discrete action reaches `step` as a Python
int (the engine calls it once per possible action); a continuous one as a tuple of
components (the policy's output, already clipped to the action box).

Example (a user's env, through the `sanp.envs` entry points or `register`):
    >>> class MyCar(Dynamics):
    ...     state_names = ("position", "velocity")
    ...     def step(self, s, a, ops):
    ...         p, v = s
    ...         v = ops.clip(v + 0.01 * a[0], -1.0, 1.0)
    ...         return (p + 0.1 * v, v)
    ...     def observe(self, s, ops):
    ...         return tuple(ops.f32(c) for c in s)
    >>> class MyCarAdapter(StateAdapter):
    ...     @classmethod
    ...     def dynamics(cls, env_id, kwargs):
    ...         return MyCar()
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from sanp.errors import EnvError

State = tuple[Any, ...]
"""A state as its components: float arrays [N] (FLOAT_OPS) or intervals (INTERVAL_OPS)."""


class Dynamics:
    """One env's declared dynamics. Subclasses set `state_names` and override `step`
    (discrete time) or `field` and `period` (continuous time), and `observe`."""

    state_names: tuple[str, ...] = ()
    """The state's components, named as the adapter's search dimensions."""
    time: Literal["discrete", "continuous"] = "discrete"
    period: float | None = None
    """Continuous time: seconds the env holds an action (the control period)."""
    substeps: int = 20
    """Continuous time: RK4 steps per period of `step_float` (the float reference)."""
    start: Mapping[str, tuple[float, float]] = {}
    """The env's own initial range of components a spec does not search (default: the
    adapter's dimension range, or its default value when it has one)."""

    def step(self, state: State, action: Any, ops: Any) -> State:
        """The state after one env step under `action` (discrete time)."""
        raise NotImplementedError(f"{type(self).__name__} declares no step (discrete-time dynamics)")

    def field(self, state: State, action: Any, ops: Any) -> State:
        """d state / dt under `action` (continuous time)."""
        raise NotImplementedError(f"{type(self).__name__} declares no field (continuous-time dynamics)")

    def observe(self, state: State, ops: Any) -> State:
        """The policy's observation of `state` (default: the state cast to float32)."""
        return tuple(ops.f32(c) for c in state)

    def terminated(self, state: State, ops: Any) -> Any:
        """Whether the env ends the episode on arriving at `state` (an ops condition);
        None: it never does. A proof needs it where an episode may end early: an
        `eventually` must then be met before the end, and a violation found after a
        possible end refutes nothing."""
        return None

    # ------------------------------------------------------------ the float view
    def step_float(self, state: np.ndarray, action: Any) -> np.ndarray:
        """One step on floats: state [N, d] -> [N, d]; continuous time by RK4."""
        comps = tuple(np.asarray(state)[:, i] for i in range(len(self.state_names)))
        if self.time == "discrete":
            out = self.step(comps, action, FLOAT_OPS)
        else:
            out = rk4(lambda s: self.field(s, action, FLOAT_OPS), comps, float(self.period), self.substeps)
        return np.stack([np.asarray(c, dtype=np.float64) for c in out], axis=1)

    def observe_float(self, state: np.ndarray) -> np.ndarray:
        comps = tuple(np.asarray(state)[:, i] for i in range(len(self.state_names)))
        return np.stack([np.asarray(c, dtype=np.float64) for c in self.observe(comps, FLOAT_OPS)], axis=1)

    # ------------------------------------------------- how the env holds its state
    def read_state(self, env: gym.Env) -> np.ndarray:
        """The env's current state, as the components of `state_names` (classic control
        keeps it in `env.state`)."""
        return np.array(env.state, dtype=np.float64).reshape(-1)

    def write_state(self, env: gym.Env, state: np.ndarray) -> None:
        """Put `state` into the env, keeping its dtype (MountainCarContinuous stores float32)."""
        env.state = np.array(state)


def rk4(f: Any, s: State, period: float, n: int) -> State:
    h = period / n
    for _ in range(n):
        k1 = f(s)
        k2 = f(tuple(a + 0.5 * h * b for a, b in zip(s, k1)))
        k3 = f(tuple(a + 0.5 * h * b for a, b in zip(s, k2)))
        k4 = f(tuple(a + h * b for a, b in zip(s, k3)))
        s = tuple(a + (h / 6.0) * (b1 + 2.0 * b2 + 2.0 * b3 + b4) for a, b1, b2, b3, b4 in zip(s, k1, k2, k3, k4))
    return s


def _f64(x: Any) -> Any:
    return np.asarray(x, dtype=np.float64)


def _where(cond: Any, a: Any, b: Any) -> Any:
    return np.where(cond, a, b)


FLOAT_OPS = SimpleNamespace(
    # the env's own functions, evaluated in float64 as gymnasium's math.cos / np.cos do
    sin=lambda x: np.sin(_f64(x)), cos=lambda x: np.cos(_f64(x)), sqrt=lambda x: np.sqrt(_f64(x)),
    square=np.square, abs=np.abs, minimum=np.minimum, maximum=np.maximum, clip=np.clip,
    le=np.less_equal, lt=np.less, ge=np.greater_equal, gt=np.greater,
    and_=np.logical_and, or_=np.logical_or, where=_where,
    f32=lambda x: np.asarray(x, dtype=np.float32),
    kind="float",
)
"""The float `ops`: numpy, with the dtypes gymnasium's code has (float32 where the env
stores float32), so that a declared model reproduces the env step bit for bit."""


# --------------------------------------------------------------- classic control


class CartPoleDynamics(Dynamics):
    """CartPole-v1 (gymnasium 1.x): the Euler update of `CartPoleEnv.step`, float64 state,
    float32 observation. The action is 0 (push left) or 1 (push right)."""

    state_names = ("x", "x_dot", "theta", "theta_dot")
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02

    def step(self, state: State, action: Any, ops: Any) -> State:
        x, x_dot, theta, theta_dot = state
        total_mass = self.masspole + self.masscart
        polemass_length = self.masspole * self.length
        force = self.force_mag if int(action) == 1 else -self.force_mag
        costheta, sintheta = ops.cos(theta), ops.sin(theta)
        temp = (force + polemass_length * ops.square(theta_dot) * sintheta) / total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * ops.square(costheta) / total_mass)
        )
        xacc = temp - polemass_length * thetaacc * costheta / total_mass
        return (x + self.tau * x_dot, x_dot + self.tau * xacc,
                theta + self.tau * theta_dot, theta_dot + self.tau * thetaacc)

    def terminated(self, state: State, ops: Any) -> Any:
        x, _, theta, _ = state
        limit = 12 * 2 * math.pi / 360
        return ops.or_(ops.or_(ops.lt(x, -2.4), ops.gt(x, 2.4)), ops.or_(ops.lt(theta, -limit), ops.gt(theta, limit)))


class PendulumDynamics(Dynamics):
    """Pendulum-v1: torque clipped to [-2, 2], speed clipped to [-8, 8], semi-implicit
    Euler with dt = 0.05; the observation is (cos theta, sin theta, theta_dot) in float32."""

    state_names = ("theta", "theta_dot")
    g, m, l, dt, max_torque, max_speed = 10.0, 1.0, 1.0, 0.05, 2.0, 8.0

    def __init__(self, g: float = 10.0):
        self.g = float(g)

    def step(self, state: State, action: Any, ops: Any) -> State:
        th, thdot = state
        u = ops.clip(action[0], -self.max_torque, self.max_torque)
        newthdot = thdot + (3 * self.g / (2 * self.l) * ops.sin(th) + 3.0 / (self.m * self.l**2) * u) * self.dt
        newthdot = ops.clip(newthdot, -self.max_speed, self.max_speed)
        return (th + newthdot * self.dt, newthdot)

    def observe(self, state: State, ops: Any) -> State:
        th, thdot = state
        return (ops.f32(ops.cos(th)), ops.f32(ops.sin(th)), ops.f32(thdot))


class MountainCarDynamics(Dynamics):
    """MountainCar-v0: action 0, 1, 2 pushes left, not, right; speed and position clipped,
    the car stopped at the left wall."""

    state_names = ("position", "velocity")
    start = {"velocity": (0.0, 0.0)}  # the env starts at rest
    force, gravity, max_speed, min_position, max_position = 0.001, 0.0025, 0.07, -1.2, 0.6

    def step(self, state: State, action: Any, ops: Any) -> State:
        position, velocity = state
        velocity = velocity + ((int(action) - 1) * self.force + ops.cos(3 * position) * (-self.gravity))
        velocity = ops.clip(velocity, -self.max_speed, self.max_speed)
        position = ops.clip(position + velocity, self.min_position, self.max_position)
        stopped = ops.and_(ops.le(position, self.min_position), ops.lt(velocity, 0.0))
        return (position, ops.where(stopped, 0.0 * velocity, velocity))

    goal_position = 0.5

    def terminated(self, state: State, ops: Any) -> Any:
        position, velocity = state
        return ops.and_(ops.ge(position, self.goal_position), ops.ge(velocity, 0.0))


class ContinuousMountainCarDynamics(MountainCarDynamics):
    """MountainCarContinuous-v0: force clipped to [-1, 1] times 0.0015; the env stores its
    state in float32 after each step."""

    power = 0.0015
    goal_position = 0.45

    def step(self, state: State, action: Any, ops: Any) -> State:
        position, velocity = state
        a = action[0]
        slope = 0.0025 * ops.cos(3 * position)
        # gymnasium clips the force with Python's min/max: an unclipped force stays
        # float32 and numpy rounds the Python float beside it to float32; a clipped one is
        # the Python float +-1.0. The casts keep the float view bit for bit with the env
        # (from its float32 state); over intervals they are roundings, modelled exactly.
        inside = ops.f32(ops.f32(a * self.power) - ops.f32(slope))
        term = ops.where(ops.gt(a, 1.0), ops.f32(self.power - slope),
                         ops.where(ops.lt(a, -1.0), ops.f32(-self.power - slope), inside))
        velocity = velocity + term
        velocity = ops.clip(velocity, -self.max_speed, self.max_speed)
        position = ops.clip(position + velocity, self.min_position, self.max_position)
        stopped = ops.and_(ops.le(position, self.min_position), ops.lt(velocity, 0.0))
        velocity = ops.where(stopped, 0.0 * velocity, velocity)
        return (ops.f32(position), ops.f32(velocity))


BUILT_IN: dict[str, type[Dynamics]] = {
    "CartPole-v1": CartPoleDynamics,
    "CartPole-v0": CartPoleDynamics,
    "Pendulum-v1": PendulumDynamics,
    "MountainCar-v0": MountainCarDynamics,
    "MountainCarContinuous-v0": ContinuousMountainCarDynamics,
}


def built_in(env_id: str, kwargs: Mapping[str, Any]) -> Dynamics | None:
    """The dynamics of a built-in classic-control env, None for any other env."""
    cls = BUILT_IN.get(env_id)
    if cls is None:
        return None
    return cls(g=float(kwargs.get("g", 10.0))) if cls is PendulumDynamics else cls()


def declared(adapter: Any, env_id: str, kwargs: Mapping[str, Any]) -> Dynamics | None:
    """The dynamics `adapter` declares for `env_id` (its `dynamics` classmethod), None
    when it declares none."""
    hook = getattr(adapter, "dynamics", None)
    return None if hook is None else hook(env_id, kwargs)


def dynamics_of(binding: Any) -> Dynamics:
    """The declared dynamics of a bound env; an EnvError naming what to add when the env
    declares none."""
    dyn = declared(binding.adapter, binding.env_id, binding.kwargs)
    if dyn is None:
        cls = type(binding.adapter)
        raise EnvError(
            f"env {binding.env_id} declares no dynamics, so its closed loop cannot be proved: give its adapter "
            f"({cls.__module__}.{cls.__qualname__}) a `dynamics(cls, env_id, kwargs)` classmethod returning a "
            "sanp.envs.dynamics.Dynamics (see docs: closed-loop proofs)"
        )
    if not isinstance(dyn, Dynamics):
        raise EnvError(f"the dynamics of env {binding.env_id} must be a sanp.envs.dynamics.Dynamics, "
                       f"got {type(dyn).__name__}")
    return dyn


def model_error(dyn: Dynamics, adapter: Any, states: np.ndarray, actions: Sequence[Any]) -> float:
    """Largest absolute difference, over `states` [N, d] and one action each, between the
    declared model's next state and observation and the real env's (`adapter.make()`)."""
    env = adapter.make()
    try:
        env.reset(seed=0)
        worst = 0.0
        for s, a in zip(states, actions):
            dyn.write_state(env, s)
            obs, *_ = env.step(a)
            real_next = dyn.read_state(env)
            dyn.write_state(env, s)
            act = a if isinstance(a, (int, np.integer)) else tuple(np.asarray(a).reshape(-1, 1))
            start = tuple(np.asarray([env.state[i]]) for i in range(len(dyn.state_names)))
            if dyn.time == "discrete":
                nxt = dyn.step(start, act, FLOAT_OPS)
            else:
                nxt = rk4(lambda q: dyn.field(q, act, FLOAT_OPS), start, float(dyn.period), dyn.substeps)
            model_next = np.array([float(np.asarray(c).reshape(-1)[0]) for c in nxt])
            model_obs = np.array([float(np.asarray(c).reshape(-1)[0])
                                  for c in dyn.observe(tuple(np.asarray([v]) for v in nxt), FLOAT_OPS)])
            worst = max(worst, float(np.max(np.abs(model_next - real_next))),
                        float(np.max(np.abs(model_obs - np.asarray(obs, dtype=np.float64).reshape(-1)))))
        return worst
    finally:
        env.close()

