"""Shared aliases and the small protocols through which sanp's parts meet."""
from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import numpy as np

ActionKind = Literal["discrete", "continuous"]
Point = dict[str, float]

RESET_SEED = "reset_seed"
"""The key under which a point carries its episode's reset seed: the env's own randomness
(LunarLander's terrain and initial dispersion) is part of an episode's initial condition,
so a point with its seed replays exactly."""
"""A point of a search space: dimension name -> value."""


@runtime_checkable
class Actor(Protocol):
    """Anything that maps a batch of observations to a batch of env actions.

    `act(obs)` takes float32 [N, obs_dim] and returns int64 [N] for discrete action
    spaces or float32 [N, act_dim] (already clipped to the action box) for continuous.
    """

    obs_dim: int
    action_kind: ActionKind

    def act(self, obs: np.ndarray) -> np.ndarray: ...
