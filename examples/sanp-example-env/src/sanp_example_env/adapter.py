"""The sanp adapter for Thermostat-v0: the search space is the initial room and outside
temperature. The env is deterministic given its reset seed, so sanp restores a state
inside an episode by replaying the reset and the actions (`exact_state = False`)."""
from __future__ import annotations

import sanp_example_env  # noqa: F401  (registers Thermostat-v0 with gymnasium)
from sanp.envs import Dimension, EnvAdapter


class ThermostatAdapter(EnvAdapter):
    dimensions = (
        Dimension("room", 15.0, 20.0, None, "initial room temperature [C] (the env: [15, 20])"),
        Dimension("outside", 0.0, 10.0, None, "outside temperature [C] (the env: [0, 10])"),
    )
    default_search = ("room", "outside")

    def reset(self, env, point, seed):
        # point holds the searched dimensions (and those with a default); None: the
        # env's own draw. The same (point, seed) must always give the same episode.
        given = {k: v for k, v in (point or {}).items() if v is not None}
        obs, _ = env.reset(seed=seed, options=given or None)
        return obs
