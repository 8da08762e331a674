"""Fixtures for the env tests: hand-built MLP controllers for the classic control envs, as sanp MLPPolicy networks.

Each controller is written into the first hidden units of a 16-unit ReLU layer; the
other units carry small random weights (a stand-in for what training leaves behind),
so that magnitude pruning has something to remove. `broken=True` gives a controller
that fails its spec (e.g. the balancing feedback with the wrong sign).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sanp.formats.onnx_writer import export_onnx
from sanp.model import MLPPolicy

HIDDEN = 16


def _units(obs_dim: int, n_out: int, rows: list[tuple[list[float], float]], out: np.ndarray,
           out_bias: list[float], seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.1, (HIDDEN, obs_dim))
    b1 = np.zeros(HIDDEN)
    w2 = rng.normal(0, 1e-3, (n_out, HIDDEN))
    for i, (w, b) in enumerate(rows):
        w1[i], b1[i] = w, b
    w2[:, : out.shape[1]] = out
    return w1, b1, w2, np.asarray(out_bias, dtype=np.float64)


def make_controller(env_id: str, *, broken: bool = False, seed: int = 0) -> MLPPolicy:
    """The controller for `env_id` (Pendulum-v1, MountainCar-v0,
    MountainCarContinuous-v0, Acrobot-v1, and the example package's Thermostat-v0)."""
    s = -1.0 if broken else 1.0
    if env_id == "Pendulum-v1":  # u = -(10 sin(theta) + 2 theta_dot)
        rows = [([0, -10 * s, -2 * s], 0.0), ([0, 10 * s, 2 * s], 0.0)]
        parts = _units(3, 1, rows, np.array([[1.0, -1.0]]), [0.0], seed)
        kind, low, high = "continuous", [-2.0], [2.0]
    elif env_id == "MountainCarContinuous-v0":  # push along the velocity (broken: never push)
        rows = [([0, 100 * s], 0.0), ([0, -100 * s], 0.0)]
        out = np.array([[1.0, -1.0]]) if not broken else np.zeros((1, 2))
        parts = _units(2, 1, rows, out, [-0.01 if not broken else 0.0], seed)
        kind, low, high = "continuous", [-1.0], [1.0]
    elif env_id == "MountainCar-v0":  # left (0) / right (2) along the velocity; broken: always right
        rows = [([0, 100], 0.0), ([0, -100], 0.0)]
        out = np.array([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
        bias = [0.05, 0.0, 0.0] if not broken else [0.0, 0.0, 1.0]
        if broken:
            out = np.zeros((3, 2))
        parts = _units(2, 3, rows, out, bias, seed)
        kind, low, high = "discrete", None, None
    elif env_id == "Acrobot-v1":  # torque along theta2_dot (broken: along theta1_dot)
        col = 5 if not broken else 4
        rows = [([10.0 if j == col else 0.0 for j in range(6)], 0.0),
                ([-10.0 if j == col else 0.0 for j in range(6)], 0.0)]
        out = np.array([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
        parts = _units(6, 3, rows, out, [0.0, 0.0, 0.0], seed)
        kind, low, high = "discrete", None, None
    elif env_id == "Thermostat-v0":  # examples/sanp-example-env: P control + feedforward
        k, f = (0.5, 0.1 / 3) if not broken else (-0.5, 0.0)  # broken: heats a warm room
        z = ([-k, -f], 21 * (k + f))
        rows = [z, ([k, f], -21 * (k + f))]
        parts = _units(2, 1, rows, np.array([[1.0, -1.0]]), [0.0], seed)
        kind, low, high = "continuous", [0.0], [1.0]
    else:
        raise ValueError(env_id)
    w1, b1, w2, b2 = parts
    obs_dim, n_out = w1.shape[1], w2.shape[0]
    pi = MLPPolicy([obs_dim, HIDDEN, n_out], "relu", action_kind=kind, action_low=low, action_high=high)
    with torch.no_grad():
        for lin, w, b in zip(pi.layers, (w1, w2), (b1, b2)):
            lin.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
            lin.bias.copy_(torch.as_tensor(b, dtype=torch.float32))
    return pi


def save_policy(pi: MLPPolicy, path: Path, env_id: str) -> Path:
    """Write `pi` as ONNX (`.onnx`) or a sanp checkpoint (`.pt`)."""
    if path.suffix == ".onnx":
        export_onnx(pi, path, {"env_id": env_id})
    else:
        from sanp.formats.torch_policy import save_checkpoint

        save_checkpoint(pi, path)
    return path


@pytest.fixture
def controller():
    """Factory: `controller(env_id, broken=False)` -> MLPPolicy (see the module doc)."""
    return make_controller


@pytest.fixture
def save():
    """`save(policy, path, env_id)` writes ONNX or a `.pt` checkpoint by suffix."""
    return save_policy
