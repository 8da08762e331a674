"""highway-env (`pip install 'sanp[highway]'`): initial traffic as a search space, and
an observation that carries the signals a driving requirement needs.

The observation a policy sees (and a spec reads) is highway-env's Kinematics
observation (5 vehicles x presence, x, y, vx, vy; relative to the ego and normalised,
the env's defaults) flattened row by row into obs[0..24], followed by five safety
signals the adapter computes from the simulator after every step:

    obs[25] crashed    1 when the ego has collided, else 0
    obs[26] on_road    1 while the ego is on a lane of the road, else 0
    obs[27] headway    time headway [s] to the vehicle ahead in the ego's lane: the
                       bumper-to-bumper gap over the ego's speed, capped at 10 (no
                       vehicle ahead); <= 0 once the two overlap
    obs[28] accel      the ego's mean longitudinal acceleration [m/s^2] over the last
                       policy step (0 at reset); negative when braking
    obs[29] speed      the ego's speed [m/s]

Env keyword arguments of a spec's env line go into highway-env's `config`
(e.g. `env highway-fast-v0(lanes_count=4, duration=20)`).

Example:
    >>> import stl
    >>> from sanp.envs import bind
    >>> b = bind(stl.load("specs/highway.stl"))
    >>> env = b.make()
    >>> obs = b.reset(env, {"ego_speed": 28.0, "lead_gap": 15.0, "lead_speed": 20.0})
    >>> float(obs[27])  # headway to the slow lead vehicle, in seconds
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from sanp.envs.api import Dimension, EnvAdapter, make_unwrapped
from sanp.errors import EnvError
from sanp.types import Point

HEADWAY_CAP = 10.0
"""Headway [s] reported when no vehicle is ahead in the ego's lane."""
SAFETY_SIGNALS = ("crashed", "on_road", "headway", "accel", "speed")


def safety_signals(env: Any, prev_speed: float) -> np.ndarray:
    """The five safety signals of the unwrapped highway env `env` (see module doc)."""
    ego = env.vehicle
    front, _ = env.road.neighbour_vehicles(ego, ego.lane_index)
    if front is None:
        headway = HEADWAY_CAP
    else:
        lane = ego.lane
        gap = (
            lane.local_coordinates(front.position)[0]
            - lane.local_coordinates(ego.position)[0]
            - (front.LENGTH + ego.LENGTH) / 2
        )
        headway = min(HEADWAY_CAP, gap / max(ego.speed, 0.1))
    dt = 1.0 / env.config["policy_frequency"]
    return np.array(
        [float(ego.crashed), float(ego.on_road), headway, (ego.speed - prev_speed) / dt, ego.speed],
        dtype=np.float32,
    )


class SafetyObservation(gym.Wrapper):
    """Flattens the Kinematics observation and appends the safety signals."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        n = int(np.prod(env.observation_space.shape)) + len(SAFETY_SIGNALS)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n,), np.float32)
        self._prev_speed = 0.0

    def observe(self) -> np.ndarray:
        """The observation of the current simulator state (after an adapter moved it)."""
        env = self.env.unwrapped
        self._prev_speed = float(env.vehicle.speed)
        return self._combine(env.observation_type.observe(), self._prev_speed)

    def _combine(self, kinematics: np.ndarray, prev_speed: float) -> np.ndarray:
        extra = safety_signals(self.env.unwrapped, prev_speed)
        return np.concatenate([np.asarray(kinematics, np.float32).reshape(-1), extra])

    def reset(self, **kwargs):
        _, info = self.env.reset(**kwargs)
        return self.observe(), info

    def step(self, action):
        prev = self._prev_speed
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._prev_speed = float(self.env.unwrapped.vehicle.speed)
        return self._combine(obs, prev), reward, terminated, truncated, info


class HighwayAdapter(EnvAdapter):
    """highway-v0, highway-fast-v0 (and their kin with a straight multi-lane road)."""

    dimensions = (
        Dimension("ego_speed", 20.0, 30.0, None, "initial ego speed [m/s] (the env: 25)"),
        Dimension(
            "lead_gap", 8.0, 60.0, None,
            "initial bumper-to-bumper gap [m] to the vehicle ahead in the ego's lane; the "
            "vehicles ahead of it in that lane move by the same amount (the env: its draw)",
        ),
        Dimension(
            "lead_speed", 15.0, 30.0, None,
            "initial and cruise speed [m/s] of the vehicle ahead in the ego's lane "
            "(the env: drawn in [21, 24])",
        ),
        Dimension(
            "traffic_speed", 18.0, 28.0, None,
            "initial and cruise speed [m/s] of every other vehicle (the env: each drawn in [21, 24])",
        ),
        Dimension(
            "density", 0.5, 2.0, None,
            "traffic density (config vehicles_density; the spacing between vehicles is "
            "1/density of the default; the env: 1)",
        ),
    )
    default_search = ("ego_speed", "lead_gap", "lead_speed", "traffic_speed")
    exact_state = False  # restored by replay: highway-env is deterministic given the seed

    def __init__(self, env_id: str, kwargs: Mapping[str, Any]):
        super().__init__(env_id, kwargs)
        self.config = dict(kwargs)

    def make(self, render_mode: str | None = None) -> gym.Env:
        import highway_env  # noqa: F401  (registers the env ids)

        kwargs: dict = {"config": self.config} if self.config else {}
        if render_mode is not None:
            kwargs["render_mode"] = render_mode
        env = make_unwrapped(self.env_id, kwargs)
        return SafetyObservation(env)

    def reset(self, env: gym.Env, point: Point | None, seed: int) -> np.ndarray:
        given = {} if point is None else {k: v for k, v in point.items() if v is not None}
        base = env.unwrapped
        density = float(given.get("density", self.config.get("vehicles_density", 1.0)))
        if density <= 0:
            raise EnvError(f"density must be > 0, got {density}")
        base.config["vehicles_density"] = density
        obs, _ = env.reset(seed=seed)
        if not given.keys() - {"density"}:
            return obs
        _place_traffic(base, given)
        return env.observe()


def _place_traffic(env: Any, given: Mapping[str, float]) -> None:
    """Apply a point's ego speed, lead vehicle and traffic speed to a freshly reset scene."""
    ego = env.vehicle
    if "ego_speed" in given:
        ego.speed = float(given["ego_speed"])
    others = [v for v in env.road.vehicles if v is not ego]
    if "traffic_speed" in given:
        for v in others:
            v.speed = v.target_speed = float(given["traffic_speed"])
    front, _ = env.road.neighbour_vehicles(ego, ego.lane_index)
    if front is None:
        return
    lane = ego.lane
    s_ego = lane.local_coordinates(ego.position)[0]
    if "lead_gap" in given:
        gap = lane.local_coordinates(front.position)[0] - s_ego - (front.LENGTH + ego.LENGTH) / 2
        shift = float(given["lead_gap"]) - gap
        for v in others:
            s, lat = lane.local_coordinates(v.position)
            if v.lane_index == ego.lane_index and s > s_ego:
                v.position = lane.position(s + shift, lat)
                v.on_state_update()
    if "lead_speed" in given:
        front.speed = front.target_speed = float(given["lead_speed"])
