"""A room heated by a thermostat controller: a small gymnasium env sanp does not know."""
import gymnasium as gym

from sanp_example_env.thermostat import ThermostatEnv

__all__ = ["ThermostatEnv"]

if "Thermostat-v0" not in gym.registry:
    gym.register("Thermostat-v0", entry_point=ThermostatEnv, max_episode_steps=60)
