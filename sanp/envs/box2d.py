"""Gymnasium's Box2D envs: LunarLander (discrete and continuous) and BipedalWalker.

Their initial state is not exposed, so a point scripts the random draws the env makes
at reset; the remaining randomness (terrain, wind, engine dispersion) comes from the
reset seed. States are restored by replay (the envs are deterministic given the seed).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding

from sanp.envs.api import Dimension, EnvAdapter
from sanp.errors import EnvError
from sanp.types import Point


class _ScriptedRNG:
    """Wraps the env's generator during reset and substitutes chosen draws.

    The real draw is still made, so every later draw (terrain, wind, engine dispersion)
    is exactly what a plain `reset(seed=...)` would give.
    """

    def __init__(self, rng: np.random.Generator, rules: Sequence[tuple]):
        self._rng = rng
        self._rules = list(rules)

    def uniform(self, low=0.0, high=1.0, size=None):
        value = self._rng.uniform(low, high, size)
        for match, replace in self._rules:
            if size is None and match(low, high):
                return replace(value)
        return value

    def __getattr__(self, name):
        return getattr(self._rng, name)


def _reset_with(env: gym.Env, seed: int, rules: Sequence[tuple]) -> np.ndarray:
    rng, _ = seeding.np_random(seed)
    env._np_random = _ScriptedRNG(rng, rules)
    try:
        obs, _ = env.reset()
    finally:
        env._np_random = rng
    return obs


def _queue(low: float, high: float, values: list[float]):
    """A rule that replaces successive scalar uniform(low, high) draws by `values`."""
    pending = list(values)

    def match(lo, hi):
        return bool(pending) and lo == low and hi == high

    def replace(_):
        return float(pending.pop(0))

    return match, replace


class LunarLanderAdapter(EnvAdapter):
    from gymnasium.envs.box2d.lunar_lander import INITIAL_RANDOM as _PUSH

    dimensions = (
        Dimension("push_x", -_PUSH, _PUSH, 0.0, "initial horizontal force on the lander"),
        Dimension("push_y", -_PUSH, _PUSH, 0.0, "initial vertical force on the lander"),
        Dimension("gravity", -11.99, -0.01, None, "gravity (env kwarg, in (-12, 0))"),
        Dimension("wind_power", 0.0, 20.0, None, "maximum wind (turns wind on)"),
        Dimension("turbulence_power", 0.0, 2.0, None, "maximum rotational wind (turns wind on)"),
    )
    default_search = ("push_x", "push_y")
    disturbances = (
        Dimension("wind", -20.0, 20.0, None,
                  "horizontal force on the lander (gymnasium's wind; its wind_power is at most 20), "
                  "applied as the env applies its own: before the engines, while no leg touches ground"),
        Dimension("turbulence", -2.0, 2.0, None,
                  "torque on the lander (gymnasium's turbulence; its turbulence_power is at most 2), "
                  "applied as the env applies its own: before the engines, while no leg touches ground"),
    )

    def __init__(self, env_id: str, kwargs: Mapping[str, Any]):
        super().__init__(env_id, kwargs)
        # Unsearched env parameters keep what the spec's env line says.
        wind = bool(kwargs.get("enable_wind", False))
        try:
            self._fixed = {
                "gravity": float(kwargs.get("gravity", -10.0)),
                "wind_power": float(kwargs.get("wind_power", 15.0)) if wind else 0.0,
                "turbulence_power": float(kwargs.get("turbulence_power", 1.5)) if wind else 0.0,
            }
        except (TypeError, ValueError):
            raise EnvError(
                f"{env_id}: gravity, wind_power and turbulence_power must be numbers, got "
                f"{ {k: kwargs[k] for k in ('gravity', 'wind_power', 'turbulence_power') if k in kwargs} }"
            ) from None

    def reset(self, env: gym.Env, point: Point | None, seed: int) -> np.ndarray:
        given = {} if point is None else {k: v for k, v in point.items() if v is not None}
        params = {k: float(given.get(k, v)) for k, v in self._fixed.items()}
        env.gravity = params["gravity"]
        env.wind_power = params["wind_power"]
        env.turbulence_power = params["turbulence_power"]
        env.enable_wind = params["wind_power"] > 0 or params["turbulence_power"] > 0
        if point is None:
            return super().reset(env, None, seed)
        push = [float(point.get("push_x", 0.0)), float(point.get("push_y", 0.0))]
        return _reset_with(env, seed, [_queue(-self._PUSH, self._PUSH, push)])

    def disturbed_step(self, env: gym.Env, action: Any, values: Mapping[str, float]) -> tuple:
        # On top of the env's own wind (which enable_wind=true adds): the same Box2D calls,
        # under the same condition, before env.step applies the engines and steps the world.
        wind, torque = values.get("wind", 0.0), values.get("turbulence", 0.0)
        if (wind or torque) and not (env.legs[0].ground_contact or env.legs[1].ground_contact):
            if wind:
                env.lander.ApplyForceToCenter((float(wind), 0.0), True)
            if torque:
                env.lander.ApplyTorque(float(torque), True)
        return env.step(action)


class BipedalWalkerAdapter(EnvAdapter):
    from gymnasium.envs.box2d.bipedal_walker import INITIAL_RANDOM as _PUSH

    dimensions = (
        Dimension("push_x", -float(_PUSH), float(_PUSH), 0.0, "initial horizontal force on the hull"),
        Dimension(
            "roughness", 0.0, 2.0, 1.0,
            "factor on the terrain's random slope changes (1 = the env's own terrain)",
        ),
    )
    default_search = ("push_x",)
    disturbances = (
        Dimension("push", -10.0, 10.0, None,
                  "horizontal force on the hull at every step (a steady 10 topples a walker "
                  "that stands still within 80 steps)"),
    )

    def reset(self, env: gym.Env, point: Point | None, seed: int) -> np.ndarray:
        if point is None:
            return super().reset(env, None, seed)
        rough = float(point.get("roughness", 1.0))
        if rough < 0:
            raise EnvError(f"roughness must be >= 0, got {rough}")
        rules = [
            _queue(-self._PUSH, self._PUSH, [float(point.get("push_x", 0.0))]),
            # The terrain's slope changes are the only scalar uniform(-1, 1) draws.
            (lambda lo, hi: lo == -1 and hi == 1, lambda v: v * rough),
        ]
        return _reset_with(env, seed, rules)

    def disturbed_step(self, env: gym.Env, action: Any, values: Mapping[str, float]) -> tuple:
        push = values.get("push", 0.0)
        if push:
            env.hull.ApplyForceToCenter((float(push), 0.0), True)
        return env.step(action)
