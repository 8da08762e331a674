"""The generic state adapter: search over the simulator state an env exposes, with no
code. Classic control envs keep it in `env.state` (dimensions `state_0`, `state_1`,
...); MuJoCo envs in `data.qpos`/`data.qvel`, written with `set_state(qpos, qvel)`
(dimensions `qpos_0`, ..., `qvel_0`, ...).

The spec language's search names are plain identifiers, so `state[2]` is spelled
`state_2`:

    env MyPendulum-v0
    search state_0 in [-0.1, 0.1]

A point resets the env with the reset seed (every unsearched coordinate keeps the
env's own draw for that seed), then writes the searched coordinates into the state.
Register an env id for it with `sanp.envs.register("MyPendulum-v0", StateAdapter)`.

Example:
    >>> from sanp.envs import StateAdapter
    >>> a = StateAdapter("Pendulum-v1", {})
    >>> [d.name for d in a.dimensions]
    ['state_0', 'state_1']
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from sanp.envs.api import Dimension, EnvAdapter
from sanp.errors import EnvError
from sanp.types import Point


class StateAdapter(EnvAdapter):
    """Search dimensions = the coordinates of the env's exposed state."""

    names: tuple[str, ...] = ()
    """Names of the state coordinates (subclasses); empty: `state_i` / `qpos_i`, `qvel_i`."""
    ranges: tuple[tuple[float, float], ...] = ()
    """Default search range per coordinate (subclasses); empty: +-0.1 around the state
    after a reset with seed 0."""

    def __init__(self, env_id: str, kwargs: Mapping[str, Any]):
        super().__init__(env_id, kwargs)
        env = self.make()
        try:
            env.reset(seed=0)
            self._mujoco = not hasattr(env, "state") and hasattr(env, "set_state")
            state = self._read(env)
        finally:
            env.close()
        if state is None:
            raise EnvError(
                f"env {env_id} exposes no state sanp can set (neither `state` nor MuJoCo's "
                f"`set_state(qpos, qvel)`): write an adapter (see the README, 'Your own environment')"
            )
        self.exact_state = not self._mujoco
        names = self.names or self._default_names(env, len(state))
        ranges = self.ranges or tuple((float(v) - 0.1, float(v) + 0.1) for v in state)
        self.dimensions = tuple(
            Dimension(n, lo, hi, None, f"initial {n} (coordinate {i} of the env's state)")
            for i, (n, (lo, hi)) in enumerate(zip(names, ranges))
        )

    def _default_names(self, env: gym.Env, n: int) -> tuple[str, ...]:
        if self._mujoco:
            nq = len(env.data.qpos)
            return tuple(f"qpos_{i}" for i in range(nq)) + tuple(f"qvel_{i}" for i in range(n - nq))
        return tuple(f"state_{i}" for i in range(n))

    def _read(self, env: gym.Env) -> np.ndarray | None:
        if self._mujoco:
            return np.concatenate([env.data.qpos, env.data.qvel]).astype(np.float64)
        state = getattr(env, "state", None)
        return None if state is None else np.array(state, dtype=np.float64).reshape(-1)

    def _write(self, env: gym.Env, state: np.ndarray) -> np.ndarray:
        if self._mujoco:
            nq = len(env.data.qpos)
            env.set_state(state[:nq], state[nq:])
        else:
            env.state = np.array(state, dtype=np.float64)
        return self.observe(env)

    def observe(self, env: gym.Env) -> np.ndarray:
        """The observation of the env's current state."""
        for name in ("_get_obs", "_get_ob"):
            if hasattr(env, name):
                return np.asarray(getattr(env, name)(), dtype=np.float32)
        return np.array(env.state, dtype=np.float32)

    def reset(self, env: gym.Env, point: Point | None, seed: int) -> np.ndarray:
        obs, _ = env.reset(seed=seed)
        given = {} if point is None else {k: v for k, v in point.items() if v is not None}
        if not given:
            return np.asarray(obs)
        state = self._read(env)
        for i, d in enumerate(self.dimensions):
            if d.name in given:
                state[i] = float(given[d.name])
        return self._write(env, state)

    def get_state(self, env: gym.Env) -> Any:
        return self._read(env)

    def set_state(self, env: gym.Env, state: Any) -> np.ndarray:
        return self._write(env, np.array(state, dtype=np.float64))
