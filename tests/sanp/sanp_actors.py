"""Small hand-written actors shared by tests in several folders."""
from __future__ import annotations

import numpy as np


class LinearCartPole:
    """Push right (action 1) iff k . obs > 0, in float32 like a policy network."""

    obs_dim = 4
    action_kind = "discrete"

    def __init__(self, k):
        self.k = np.asarray(k, dtype=np.float32)

    def act(self, obs: np.ndarray) -> np.ndarray:
        return (np.asarray(obs, dtype=np.float32) @ self.k > 0).astype(np.int64)
