"""How a policy file meets an env: gymnasium spaces -> action semantics, and the check
that a network's input and output fit the env's observation and action spaces.

Example:
    >>> kind, n, low, high = space_info(env.action_space)   # ("discrete", 2, None, None)
    >>> check_fit(policy, "policy.onnx", observation_space=env.observation_space)
"""
from __future__ import annotations

from typing import Any

import numpy as np

from sanp.errors import PolicyError
from sanp.model import MLPPolicy


def space_info(space: Any) -> tuple[str, int, np.ndarray | None, np.ndarray | None]:
    """(kind, size, low, high) of a gymnasium Discrete or 1-D Box space."""
    if hasattr(space, "n") and not hasattr(space, "low"):
        return "discrete", int(space.n), None, None
    if hasattr(space, "low") and hasattr(space, "high") and hasattr(space, "shape"):
        shape = tuple(space.shape)
        if len(shape) != 1:
            raise PolicyError(f"action space {space} is not a flat Box; sanp supports Discrete and 1-D Box actions")
        return "continuous", int(shape[0]), np.asarray(space.low, np.float32), np.asarray(space.high, np.float32)
    raise PolicyError(f"unsupported action space {space!r}; sanp supports Discrete and 1-D Box actions")


def action_semantics(path: Any, action_space: Any) -> dict[str, Any]:
    """MLPPolicy keyword arguments (action_kind, action_low, action_high) from an env's
    action space, for files that do not say whether actions are discrete or continuous."""
    if action_space is None:
        raise PolicyError(
            f"{path}: the file does not say whether actions are discrete or continuous; "
            "pass --env ENV_ID, e.g. --env CartPole-v1 (action_space= from Python), or export the policy with sanp"
        )
    kind, _n, low, high = space_info(action_space)
    return {"action_kind": kind, "action_low": low, "action_high": high}


def _obs_size(space: Any) -> int:
    shape = tuple(getattr(space, "shape", None) or ())
    if not shape:
        raise PolicyError(f"unsupported observation space {space!r}; sanp supports flat Box observations")
    return int(np.prod(shape))


def check_fit(policy: MLPPolicy, path: Any, *, observation_space: Any = None, action_space: Any = None) -> None:
    """PolicyError unless the network's input and output fit the env's spaces."""
    if observation_space is not None:
        n = _obs_size(observation_space)
        if n != policy.obs_dim:
            raise PolicyError(
                f"{path}: the network takes {policy.obs_dim} observation values but the env gives {n}; "
                "use the policy trained for this env"
            )
    if action_space is not None:
        kind, n, _, _ = space_info(action_space)
        what = "Discrete actions" if kind == "discrete" else "Box action values"
        if kind != policy.action_kind:
            raise PolicyError(
                f"{path}: a {policy.action_kind} policy but the env has {kind} actions; use the policy trained for this env"
            )
        if n != policy.out_dim:
            raise PolicyError(
                f"{path}: the network gives {policy.out_dim} outputs but the env has {n} {what}; "
                "use the policy trained for this env"
            )
