"""Shared fixtures for tests/sanp: the CartPole spec, spec-from-text, and two small
actors (a linear bang-bang CartPole controller, a fixed random linear actor for any env)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import stl

sys.path.insert(0, str(Path(__file__).parent))  # sanp_actors, for test modules in subfolders
from sanp_actors import LinearCartPole  # noqa: E402

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"


@pytest.fixture(scope="session")
def cartpole_spec():
    return stl.load(SPECS / "cartpole.stl")


@pytest.fixture
def spec_from_text():
    """`spec_from_text(text, source="t.stl")` parses spec text (no file needed)."""

    def make(text: str, source: str = "t.stl"):
        return stl.parse(text, source)

    return make


@pytest.fixture
def linear_cartpole():
    """Factory: `linear_cartpole((kx, kxd, kth, kthd))` -> a bang-bang CartPole actor."""
    return LinearCartPole


class RandomLinear:
    """A fixed random linear actor for any bound env: argmax(W obs) for discrete
    actions, clip(W obs) to the action box for continuous ones."""

    def __init__(self, binding, seed: int = 0, scale: float = 1.0):
        rng = np.random.default_rng(seed)
        self.obs_dim = int(binding.observation_space.shape[0])
        self.action_kind = binding.action_kind
        if self.action_kind == "discrete":
            n = int(binding.action_space.n)
            self.low = self.high = None
        else:
            n = int(binding.action_space.shape[0])
            self.low = binding.action_space.low.astype(np.float32)
            self.high = binding.action_space.high.astype(np.float32)
        self.W = (rng.standard_normal((self.obs_dim, n)) * scale).astype(np.float32)

    def act(self, obs: np.ndarray) -> np.ndarray:
        v = np.asarray(obs, dtype=np.float32) @ self.W
        if self.action_kind == "discrete":
            return np.argmax(v, axis=1).astype(np.int64)
        return np.clip(v, self.low, self.high).astype(np.float32)


@pytest.fixture
def random_linear():
    """Factory: `random_linear(binding, seed=0, scale=1.0)` -> a fixed linear actor."""
    return RandomLinear


@pytest.fixture
def make_policy():
    """Factory: `make_policy(kind="discrete", norm=False, seed=0, sizes=(5, 16, 8, 3),
    acts="tanh")` -> a small MLPPolicy (continuous: a different box per output; norm: a
    clipped observation normaliser)."""
    from sanp.model import MLPPolicy

    def make(kind="discrete", norm=False, seed=0, sizes=(5, 16, 8, 3), acts="tanh"):
        torch.manual_seed(seed)
        kw = {}
        if kind == "continuous":
            kw = dict(action_low=[-1, -2, -0.5], action_high=[1, 2, 0.5])
        if norm:
            kw.update(obs_mean=np.linspace(-1, 1, sizes[0]), obs_var=np.linspace(0.5, 3, sizes[0]), obs_clip=2.5)
        return MLPPolicy(list(sizes), acts, action_kind=kind, **kw)

    return make
