"""gymnasium's classic control envs: CartPole, Pendulum, MountainCar (discrete and
continuous) and Acrobot. Each searches over the state the env draws at reset, under
the names of the env's documentation; the state is restored exactly."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from sanp.envs.api import Dimension, EnvAdapter
from sanp.envs.dynamics import built_in
from sanp.envs.state import StateAdapter
from sanp.types import Point


class _Declared:
    """Classic-control adapters declare their env's dynamics (`sanp.envs.dynamics`)."""

    @classmethod
    def dynamics(cls, env_id: str, kwargs: Any) -> Any:
        return built_in(env_id, kwargs)


class CartPoleAdapter(_Declared, EnvAdapter):
    dimensions = tuple(
        Dimension(n, -0.05, 0.05, 0.0, f"initial {n} (the env draws it from [-0.05, 0.05])")
        for n in ("x", "x_dot", "theta", "theta_dot")
    )
    default_search = ("x", "x_dot", "theta", "theta_dot")
    exact_state = True
    step_reward = (-1.0, 1.0)  # +1 a step; with sutton_barto_reward, 0 and -1 at the end
    disturbances = (
        Dimension("push", -10.0, 10.0, None,
                  "horizontal force on the cart (N), added to the action's +-10 N"),
    )

    def reset(self, env: gym.Env, point: Point | None, seed: int) -> np.ndarray:
        obs, _ = env.reset(seed=seed)
        if point is None:
            return obs
        env.state = np.array([point[d.name] for d in self.dimensions], dtype=np.float64)
        return np.array(env.state, dtype=np.float32)

    def get_state(self, env: gym.Env) -> Any:
        return (np.array(env.state, dtype=np.float64), env.steps_beyond_terminated)

    def set_state(self, env: gym.Env, state: Any) -> np.ndarray:
        env.state = np.array(state[0], dtype=np.float64)
        env.steps_beyond_terminated = state[1]
        return np.array(env.state, dtype=np.float32)

    def disturbed_step(self, env: gym.Env, action: Any, values: Mapping[str, float]) -> tuple:
        push = float(values.get("push", 0.0))
        if not push:
            return env.step(action)
        # The env's force is +force_mag for action 1, -force_mag otherwise: shifting
        # force_mag by +-push gives force +- force_mag + push, with the same float
        # operations as banks.CartPoleBank.
        saved = env.force_mag
        env.force_mag = saved + push if int(action) == 1 else saved - push
        try:
            return env.step(action)
        finally:
            env.force_mag = saved


class PendulumAdapter(_Declared, StateAdapter):
    """Pendulum-v1: angle theta (0 = upright) and angular velocity, drawn by the env
    from [-pi, pi] x [-1, 1]."""

    names = ("theta", "theta_dot")
    ranges = ((-np.pi, np.pi), (-1.0, 1.0))
    default_search = ("theta", "theta_dot")
    # minus (angle^2 + 0.1 speed^2 + 0.001 torque^2): angle in [-pi, pi], speed and
    # torque clipped by the env to [-8, 8] and [-2, 2]
    step_reward = (-(np.pi**2 + 0.1 * 64 + 0.001 * 4), 0.0)


class MountainCarAdapter(_Declared, StateAdapter):
    """MountainCar-v0 and MountainCarContinuous-v0: the env starts at rest at a
    position drawn from [-0.6, -0.4]."""

    names = ("position", "velocity")
    ranges = ((-0.6, -0.4), (-0.01, 0.01))
    default_search = ("position",)


class AcrobotAdapter(StateAdapter):
    """Acrobot-v1: both joint angles (0 = hanging down) and velocities, each drawn by
    the env from [-0.1, 0.1]."""

    names = ("theta1", "theta2", "theta1_dot", "theta2_dot")
    ranges = ((-0.1, 0.1),) * 4
    default_search = ("theta1", "theta2", "theta1_dot", "theta2_dot")
    step_reward = (-1.0, 0.0)  # -1 a step until the goal
