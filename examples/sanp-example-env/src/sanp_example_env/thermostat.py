"""Thermostat-v0: keep a room at 21 degrees C with a heater.

Observation [room temperature, outside temperature] in degrees C; action: heater power
in [0, 1] (1 = 3 degrees C of heating per step); each step the room loses 10% of its
difference to the outside, plus a little noise. Reward: -(room - 21)^2 / 10.
Reset draws the room in [15, 20] and the outside in [0, 10]; `options` can fix them.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np

TARGET = 21.0


class ThermostatEnv(gym.Env):
    def __init__(self, leak: float = 0.1, heater: float = 3.0):
        self.leak, self.heater = float(leak), float(heater)
        self.observation_space = gym.spaces.Box(-50.0, 80.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.state = np.zeros(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        room = self.np_random.uniform(15.0, 20.0)
        outside = self.np_random.uniform(0.0, 10.0)
        if options:
            room = options.get("room", room)
            outside = options.get("outside", outside)
        self.state = np.array([room, outside], dtype=np.float64)
        return self.state.astype(np.float32), {}

    def step(self, action):
        power = float(np.clip(np.asarray(action).reshape(-1)[0], 0.0, 1.0))
        room, outside = self.state
        room += self.heater * power - self.leak * (room - outside)
        room += self.np_random.normal(0.0, 0.05)
        self.state = np.array([room, outside])
        return self.state.astype(np.float32), -((room - TARGET) ** 2) / 10.0, False, False, {}
