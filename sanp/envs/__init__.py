"""Environment bindings: make an env from a spec, reset it to a point of its search
space, and put it back into any state of a recorded trajectory.

Every supported env has an adapter (`sanp.envs.api.EnvAdapter`) that names its search
dimensions. A point of the search space fixes an episode completely: unsearched
dimensions take their default, and the env's remaining randomness comes from a reset
seed that is fixed per search. Adapters come built in (classic control, Box2D,
highway-env), from `register(env_id, adapter)`, or from installed packages through the
`sanp.envs` entry-point group; an env that exposes its state needs none
(`StateAdapter`).

Example:
    >>> import stl
    >>> from sanp.envs import bind
    >>> b = bind(stl.load("specs/cartpole.stl"))
    >>> env = b.make()
    >>> obs = b.reset(env, {"x": 0.01, "x_dot": 0.0, "theta": -0.02, "theta_dot": 0.0})
"""
from sanp.envs.api import Dimension, EnvAdapter
from sanp.envs.binding import Binding, bind, fitting_variant, make_adapter
from sanp.envs.classic import CartPoleAdapter
from sanp.envs.registry import (
    ENTRY_POINT_GROUP,
    aliases,
    canonical,
    check_env_id,
    env_text,
    parse_env_text,
    register,
    registered,
    variants,
)
from sanp.envs.state import StateAdapter

__all__ = [
    "ENTRY_POINT_GROUP",
    "Binding",
    "CartPoleAdapter",
    "Dimension",
    "EnvAdapter",
    "StateAdapter",
    "aliases",
    "bind",
    "canonical",
    "check_env_id",
    "env_text",
    "fitting_variant",
    "make_adapter",
    "parse_env_text",
    "register",
    "registered",
    "variants",
]
