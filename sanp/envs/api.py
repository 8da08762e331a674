"""The adapter API: what sanp needs to know about an env to falsify a policy in it.

An adapter names the env's search dimensions, resets the env to a point of that
space deterministically, and says how a state inside an episode is restored: exactly
(`exact_state = True` with `get_state`/`set_state`), or by replaying the reset and the
action prefix (the default; the env must then be deterministic given its reset seed).

Example (a package of your own; see the README's "Your own environment"):
    >>> from sanp.envs import Dimension, EnvAdapter, register
    >>> class GridAdapter(EnvAdapter):
    ...     dimensions = (Dimension("start_x", 0.0, 4.0, 0.0, "initial column"),)
    ...     default_search = ("start_x",)
    ...     def reset(self, env, point, seed):
    ...         obs, _ = env.reset(seed=seed, options=point)
    ...         return obs
    >>> register("MyGrid-v0", GridAdapter)
"""
from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from sanp.errors import EnvError
from sanp.types import Point


@dataclass(frozen=True)
class Dimension:
    """One named, continuous dimension of an env's search space."""

    name: str
    lo: float
    """Lower end of the default range."""
    hi: float
    """Upper end of the default range."""
    default: float | None
    """Value used when a search does not include this dimension (None: what the spec's
    env line says, or the env's own default)."""
    doc: str


class EnvAdapter:
    """How sanp drives one gymnasium env id. The base class serves any env without a
    search space: `sanp eval` and rollouts work, falsification does not.

    Subclasses set `dimensions` and `default_search` and override `reset`; an env whose
    state can be read and written exactly also sets `exact_state = True` and overrides
    `get_state`/`set_state`. Adapters are constructed as `Adapter(env_id, env_kwargs)`.
    """

    dimensions: tuple[Dimension, ...] = ()
    exact_state = False
    """True when `get_state`/`set_state` restore the exact simulator state; False: sanp
    restores a state by replaying the reset and the actions that led to it."""
    default_search: tuple[str, ...] = ()
    """Dimensions searched when a spec has no `search` line."""
    step_reward: tuple[float, float] | None = None
    """Least and greatest reward of one step, when the env guarantees them (None:
    unknown); a resumed run refuses saved mean rewards outside the bounds they imply."""
    disturbances: tuple[Dimension, ...] = ()
    """The disturbance signals `disturbed_step` applies (a spec's `disturb NAME ...`), each
    with a typical range and what it does; `default` is unused (an absent disturbance is 0)."""

    def __init__(self, env_id: str, kwargs: Mapping[str, Any]):
        self.env_id = env_id
        self.kwargs = dict(kwargs)

    def make(self, render_mode: str | None = None) -> gym.Env:
        """A fresh unwrapped env: sanp enforces the horizon itself, so that a restored
        env does not carry a stale step counter. `render_mode` ("rgb_array") is for
        `sanp replay` only: searches and rollouts run without rendering."""
        kwargs = self.kwargs if render_mode is None else {**self.kwargs, "render_mode": render_mode}
        return make_unwrapped(self.env_id, kwargs)

    def reset(self, env: gym.Env, point: Point | None, seed: int) -> np.ndarray:
        """Reset deterministically; `point=None` keeps the env's own initial randomness.
        A point holds every dimension with a default, plus the searched ones."""
        obs, _ = env.reset(seed=seed)
        return obs

    def get_state(self, env: gym.Env) -> Any:
        return None

    @classmethod
    def dynamics(cls, env_id: str, kwargs: Mapping[str, Any]) -> Any:
        """The env's declared one-step dynamics (a `sanp.envs.dynamics.Dynamics`), which
        closed-loop proofs (`sanp prove --horizon`) need; None: none declared."""
        return None

    def set_state(self, env: gym.Env, state: Any) -> np.ndarray:
        raise NotImplementedError

    def disturbed_step(self, env: gym.Env, action: Any, values: Mapping[str, float]) -> tuple:
        """`env.step(action)` under this step's disturbance `values` (names from
        `disturbances`; only those a point gives). Deterministic: the same values and
        actions from the same reset give the same episode."""
        return env.step(action)


def make_unwrapped(env_id: str, kwargs: Mapping[str, Any]) -> gym.Env:
    """`gym.make(env_id, **kwargs).unwrapped`, with gymnasium's errors as EnvError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = gym.make(env_id, disable_env_checker=True, **kwargs)
    except TypeError as exc:
        raise EnvError(kwargs_message(env_id, kwargs, exc)) from None
    except Exception as exc:  # gymnasium raises many kinds on bad kwargs/ids
        raise EnvError(f"cannot make env {env_id!r}: {exc}") from None
    drop_pygame_parachute()
    return env.unwrapped


_PARACHUTE = ("SIGSEGV", "SIGBUS", "SIGFPE", "SIGQUIT")


def drop_pygame_parachute() -> None:
    """Put back the default action of the signals pygame's "parachute" takes over.

    Importing pygame (gymnasium's Box2D package does, for CarRacing, whatever env is
    made) installs a C handler on SIGSEGV, SIGBUS, SIGFPE and SIGQUIT wherever the
    default action was in place; it turns the signal into abort() with a Python
    fatal-error dump, so a crash while a run is being interrupted ended in SIGABRT and
    dozens of lines of stderr instead of sanp's one line. Python's own view of these
    signals stays SIG_DFL, so setting SIG_DFL again restores the kernel default. Done in
    the main thread only (the only one that may set handlers), and not where
    faulthandler is enabled (then pygame installed nothing, and faulthandler's own
    handlers stay)."""
    import faulthandler
    import signal
    import sys
    import threading

    if "pygame.base" not in sys.modules or faulthandler.is_enabled():
        return
    if threading.current_thread() is not threading.main_thread():
        return
    for name in _PARACHUTE:
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)


def kwargs_message(env_id: str, kwargs: Mapping[str, Any], exc: Exception) -> str:
    try:
        entry = gym.spec(env_id).entry_point
        cls = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
        accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "render_mode")]
    except Exception:
        accepted = []
    bad = [k for k in kwargs if accepted and k not in accepted]
    if bad:
        hint = difflib.get_close_matches(bad[0], accepted, n=1)
        maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
        return (
            f"env {env_id} does not accept keyword {bad[0]!r}{maybe}; "
            f"it accepts: {', '.join(accepted) or 'none'}"
        )
    return f"env {env_id} rejected its keyword arguments {dict(kwargs)}: {exc}"
