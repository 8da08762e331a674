"""The declared dynamics of the classic-control envs against the real env step."""
from __future__ import annotations

import numpy as np
import pytest

from sanp.envs import bind
from sanp.envs.dynamics import CartPoleDynamics, Dynamics, dynamics_of, model_error
from sanp.errors import EnvError

# state ranges wide enough to reach every branch (clips, the left wall of MountainCar)
CASES = {
    "CartPole-v1": ([-2.4, -3.0, -0.3, -3.5], [2.4, 3.0, 0.3, 3.5], [0, 1], np.float64),
    "Pendulum-v1": ([-4.0, -9.0], [4.0, 9.0], "box", np.float64),
    "MountainCar-v0": ([-1.25, -0.08], [0.6, 0.08], [0, 1, 2], np.float64),
    "MountainCarContinuous-v0": ([-1.25, -0.08], [0.6, 0.08], "box", np.float32),
}


def _draws(env_id: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    lo, hi, acts, dtype = CASES[env_id]
    states = rng.uniform(lo, hi, size=(n, len(lo))).astype(dtype)
    if acts == "box":  # torques and forces beyond the action box too: the env clips them
        actions = [rng.uniform(-3.0, 3.0, size=1).astype(np.float32) for _ in range(n)]
    else:
        actions = [int(rng.choice(acts)) for _ in range(n)]
    return states, actions


@pytest.mark.parametrize("env_id", sorted(CASES))
def test_declared_model_matches_the_env_step(env_id: str) -> None:
    binding = bind(env_id=env_id)
    dyn = dynamics_of(binding)
    states, actions = _draws(env_id, 300, np.random.default_rng(0))
    assert model_error(dyn, binding.adapter, states, actions) <= 1e-9


class _WrongCartPole(CartPoleDynamics):
    tau = 0.021  # a step 5% too long: the kind of slip a hand-written model makes


def test_a_wrong_model_fails_the_check() -> None:
    binding = bind(env_id="CartPole-v1")
    states, actions = _draws("CartPole-v1", 50, np.random.default_rng(1))
    assert model_error(_WrongCartPole(), binding.adapter, states, actions) > 1e-4


def test_an_env_without_dynamics_gets_one_line_naming_what_to_add() -> None:
    binding = bind(env_id="Acrobot-v1")
    with pytest.raises(EnvError, match=r"declares no dynamics.*`dynamics\(cls, env_id, kwargs\)` classmethod") as e:
        dynamics_of(binding)
    assert "\n" not in str(e.value)


def test_the_float_view_steps_a_batch() -> None:
    dyn = CartPoleDynamics()
    s = np.array([[0.0, 0.0, 0.05, 0.0], [0.1, -0.2, -0.03, 0.4]])
    one = np.stack([dyn.step_float(s[i:i + 1], 1)[0] for i in range(2)])
    np.testing.assert_array_equal(dyn.step_float(s, 1), one)
    assert isinstance(dyn, Dynamics) and dyn.observe_float(s).shape == (2, 4)
