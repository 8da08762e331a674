"""Banks of envs stepped together: N episodes advance with one policy call per step.
CartPole steps as numpy arrays (the env's own float64 equations, elementwise, so
trajectories equal the scalar env's bit for bit); every other env is N instances
stepped in turn. A bank knows each episode's point and step, so that a spec's
disturbance (sanp.envs.disturbance) is applied at every step; after `set_state`,
`seek` says where in which episode the restored state is.

Example:
    >>> bank = make_bank(binding, 8)
    >>> obs0 = bank.reset(0, None, seed=3)
    >>> obs, rewards, terminated = bank.step(np.array([0]), np.array([1]))
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from sanp.envs import Binding, CartPoleAdapter
from sanp.envs.disturbance import table
from sanp.types import Point


class ScalarBank:
    """N independent env instances stepped in turn."""

    def __init__(self, binding: Binding, n: int):
        self.binding = binding
        self.envs = [binding.make() for _ in range(n)]
        self.exact = binding.adapter.exact_state
        self.points: list[Point | None] = [None] * n
        self.t = [0] * n

    def reset(self, i: int, point: Point | None, seed: int) -> np.ndarray:
        self.seek(i, point, 0)
        return self.binding.reset(self.envs[i], point, seed)

    def seek(self, i: int, point: Point | None, t: int) -> None:
        """Env `i` is at step `t` of the episode from `point` (after `set_state`)."""
        self.points[i], self.t[i] = point, t

    def state(self, i: int) -> Any:
        return self.binding.adapter.get_state(self.envs[i])

    def set_state(self, i: int, state: Any) -> np.ndarray:
        return self.binding.adapter.set_state(self.envs[i], state)

    def step(self, idx: np.ndarray, actions: np.ndarray):
        obs, rew, term = [], np.zeros(len(idx)), np.zeros(len(idx), dtype=bool)
        disturbed = bool(self.binding.disturbances)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for j, i in enumerate(idx):
                if disturbed:
                    o, r, t, _, _ = self.binding.step(self.envs[i], actions[j], self.points[i], self.t[i])
                else:
                    o, r, t, _, _ = self.envs[i].step(actions[j])
                self.t[i] += 1
                obs.append(o)
                rew[j], term[j] = r, t
        return np.asarray(obs, dtype=np.float32), rew, term

    def close(self) -> None:
        for env in self.envs:
            env.close()


class CartPoleBank:
    """CartPole's equations over arrays: the same float64 operations as
    `CartPoleEnv.step`, elementwise, so trajectories equal the scalar env's."""

    def __init__(self, binding: Binding, n: int):
        self.binding = binding
        self.env = binding.make()
        self.s = np.zeros((n, 4), dtype=np.float64)
        self.exact = True
        self.t = np.zeros(n, dtype=np.int64)
        # the push of each episode's pieces (CartPole's one disturbance), [n, pieces]
        self.push = next((d for d in binding.disturbances if d.name == "push"), None)
        self.pieces = np.zeros((n, self.push.pieces if self.push else 0))

    def reset(self, i: int, point: Point | None, seed: int) -> np.ndarray:
        obs = self.binding.reset(self.env, point, seed)
        self.s[i] = self.env.state
        self.seek(i, point, 0)
        return obs

    def seek(self, i: int, point: Point | None, t: int) -> None:
        """Episode `i` is at step `t` of the episode from `point` (after `set_state`)."""
        self.t[i] = t
        if self.push is not None:
            self.pieces[i] = table(self.push, [point])[0]

    def state(self, i: int) -> Any:
        return self.s[i].copy()

    def set_state(self, i: int, state: Any) -> np.ndarray:
        self.s[i] = state[0] if isinstance(state, tuple) else state
        return self.s[i].astype(np.float32)

    def step(self, idx: np.ndarray, actions: np.ndarray):
        e = self.env
        x, x_dot, theta, theta_dot = self.s[idx].T
        if self.push is None:
            force = np.where(np.asarray(actions) == 1, e.force_mag, -e.force_mag)
        else:  # as CartPoleAdapter.disturbed_step: +-(force_mag +- push)
            piece = np.minimum(self.push.pieces - 1, self.t[idx] * self.push.pieces // self.binding.horizon)
            push = self.pieces[idx, piece]
            force = np.where(np.asarray(actions) == 1, e.force_mag + push, -(e.force_mag - push))
        self.t[idx] += 1
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        temp = (force + e.polemass_length * np.square(theta_dot) * sintheta) / e.total_mass
        thetaacc = (e.gravity * sintheta - costheta * temp) / (
            e.length * (4.0 / 3.0 - e.masspole * np.square(costheta) / e.total_mass)
        )
        xacc = temp - e.polemass_length * thetaacc * costheta / e.total_mass
        if e.kinematics_integrator == "euler":
            x = x + e.tau * x_dot
            x_dot = x_dot + e.tau * xacc
            theta = theta + e.tau * theta_dot
            theta_dot = theta_dot + e.tau * thetaacc
        else:
            x_dot = x_dot + e.tau * xacc
            x = x + e.tau * x_dot
            theta_dot = theta_dot + e.tau * thetaacc
            theta = theta + e.tau * theta_dot
        new = np.stack([x, x_dot, theta, theta_dot], axis=1)
        self.s[idx] = new
        term = (
            (x < -e.x_threshold)
            | (x > e.x_threshold)
            | (theta < -e.theta_threshold_radians)
            | (theta > e.theta_threshold_radians)
        )
        if e._sutton_barto_reward:
            rew = np.where(term, -1.0, 0.0)
        else:
            rew = np.ones(len(idx))
        return new.astype(np.float32), rew, term

    def close(self) -> None:
        self.env.close()


def is_array_bank(binding: Binding) -> bool:
    # a subclass's own disturbances are applied by its disturbed_step, in the scalar bank
    return (isinstance(binding.adapter, CartPoleAdapter) and not binding.kwargs.get("render_mode")
            and all(d.name == "push" for d in binding.disturbances))


def make_bank(binding: Binding, n: int) -> ScalarBank | CartPoleBank:
    """CartPole's array stepper where it applies (no rendering), else N env instances."""
    return CartPoleBank(binding, n) if is_array_bank(binding) else ScalarBank(binding, n)
