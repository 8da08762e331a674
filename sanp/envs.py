"""Environment bindings: make an env from a spec, reset it to a point of its search
space, and put it back into any state of a recorded trajectory.

Every supported env has an adapter that names its search dimensions. A point of the
search space fixes an episode completely: unsearched dimensions take their default,
and the env's remaining randomness (LunarLander terrain and engine dispersion,
BipedalWalker terrain) comes from a reset seed that is fixed per search.

Example:
    >>> import stl
    >>> from sanp.envs import bind
    >>> b = bind(stl.load("specs/cartpole.stl"))
    >>> env = b.make()
    >>> obs = b.reset(env, {"x": 0.01, "x_dot": 0.0, "theta": -0.02, "theta_dot": 0.0})
"""
from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding

from sanp.errors import EnvError
from sanp.types import ActionKind, Point


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
    search space: `sanp eval` and rollouts work, falsification does not."""

    dimensions: tuple[Dimension, ...] = ()
    exact_state = False
    """True when `get_state`/`set_state` restore the exact simulator state."""
    default_search: tuple[str, ...] = ()
    """Dimensions searched when a spec has no `search` line."""

    def __init__(self, env_id: str, kwargs: Mapping[str, Any]):
        self.env_id = env_id
        self.kwargs = dict(kwargs)

    def make(self) -> gym.Env:
        """A fresh unwrapped env: sanp enforces the horizon itself, so that a restored
        env does not carry a stale step counter."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                env = gym.make(self.env_id, disable_env_checker=True, **self.kwargs)
        except TypeError as exc:
            raise EnvError(_kwargs_message(self.env_id, self.kwargs, exc)) from None
        except Exception as exc:  # gymnasium raises many kinds on bad kwargs/ids
            raise EnvError(f"cannot make env {self.env_id!r}: {exc}") from None
        return env.unwrapped

    def reset(self, env: gym.Env, point: Point | None, seed: int) -> np.ndarray:
        """Reset deterministically; `point=None` keeps the env's own initial randomness."""
        obs, _ = env.reset(seed=seed)
        return obs

    def get_state(self, env: gym.Env) -> Any:
        return None

    def set_state(self, env: gym.Env, state: Any) -> np.ndarray:
        raise NotImplementedError


class CartPoleAdapter(EnvAdapter):
    dimensions = tuple(
        Dimension(n, -0.05, 0.05, 0.0, f"initial {n} (the env draws it from [-0.05, 0.05])")
        for n in ("x", "x_dot", "theta", "theta_dot")
    )
    default_search = ("x", "x_dot", "theta", "theta_dot")
    exact_state = True

    def reset(self, env: gym.Env, point: Point | None, seed: int) -> np.ndarray:
        obs, _ = env.reset(seed=seed)
        if point is None:
            return obs
        env.state = np.array([point[d.name] for d in self.dimensions], dtype=np.float64)
        return np.array(env.state, dtype=np.float32)

    def get_state(self, env: gym.Env) -> Any:
        return (np.array(env.state, dtype=np.float64), env.steps_beyond_terminated)

    def set_state(self, env: gym.Env, state: Any) -> np.ndarray:
        env.state = np.array(state[0], dtype=np.float64)
        env.steps_beyond_terminated = state[1]
        return np.array(env.state, dtype=np.float32)


class _ScriptedRNG:
    """Wraps the env's generator during reset and substitutes chosen draws.

    The real draw is still made, so every later draw (terrain, wind, engine dispersion)
    is exactly what a plain `reset(seed=...)` would give.
    """

    def __init__(self, rng: np.random.Generator, rules: Sequence[tuple]):
        self._rng = rng
        self._rules = list(rules)

    def uniform(self, low=0.0, high=1.0, size=None):
        value = self._rng.uniform(low, high, size)
        for match, replace in self._rules:
            if size is None and match(low, high):
                return replace(value)
        return value

    def __getattr__(self, name):
        return getattr(self._rng, name)


def _reset_with(env: gym.Env, seed: int, rules: Sequence[tuple]) -> np.ndarray:
    rng, _ = seeding.np_random(seed)
    env._np_random = _ScriptedRNG(rng, rules)
    try:
        obs, _ = env.reset()
    finally:
        env._np_random = rng
    return obs


def _queue(low: float, high: float, values: list[float]):
    """A rule that replaces successive scalar uniform(low, high) draws by `values`."""
    pending = list(values)

    def match(lo, hi):
        return bool(pending) and lo == low and hi == high

    def replace(_):
        return float(pending.pop(0))

    return match, replace


class LunarLanderAdapter(EnvAdapter):
    from gymnasium.envs.box2d.lunar_lander import INITIAL_RANDOM as _PUSH

    dimensions = (
        Dimension("push_x", -_PUSH, _PUSH, 0.0, "initial horizontal force on the lander"),
        Dimension("push_y", -_PUSH, _PUSH, 0.0, "initial vertical force on the lander"),
        Dimension("gravity", -11.99, -0.01, None, "gravity (env kwarg, in (-12, 0))"),
        Dimension("wind_power", 0.0, 20.0, None, "maximum wind (turns wind on)"),
        Dimension("turbulence_power", 0.0, 2.0, None, "maximum rotational wind (turns wind on)"),
    )
    default_search = ("push_x", "push_y")

    def __init__(self, env_id: str, kwargs: Mapping[str, Any]):
        super().__init__(env_id, kwargs)
        # Unsearched env parameters keep what the spec's env line says.
        wind = bool(kwargs.get("enable_wind", False))
        try:
            self._fixed = {
                "gravity": float(kwargs.get("gravity", -10.0)),
                "wind_power": float(kwargs.get("wind_power", 15.0)) if wind else 0.0,
                "turbulence_power": float(kwargs.get("turbulence_power", 1.5)) if wind else 0.0,
            }
        except (TypeError, ValueError):
            raise EnvError(
                f"{env_id}: gravity, wind_power and turbulence_power must be numbers, got "
                f"{ {k: kwargs[k] for k in ('gravity', 'wind_power', 'turbulence_power') if k in kwargs} }"
            ) from None

    def reset(self, env: gym.Env, point: Point | None, seed: int) -> np.ndarray:
        given = {} if point is None else {k: v for k, v in point.items() if v is not None}
        params = {k: float(given.get(k, v)) for k, v in self._fixed.items()}
        env.gravity = params["gravity"]
        env.wind_power = params["wind_power"]
        env.turbulence_power = params["turbulence_power"]
        env.enable_wind = params["wind_power"] > 0 or params["turbulence_power"] > 0
        if point is None:
            return super().reset(env, None, seed)
        push = [float(point.get("push_x", 0.0)), float(point.get("push_y", 0.0))]
        return _reset_with(env, seed, [_queue(-self._PUSH, self._PUSH, push)])


class BipedalWalkerAdapter(EnvAdapter):
    from gymnasium.envs.box2d.bipedal_walker import INITIAL_RANDOM as _PUSH

    dimensions = (
        Dimension("push_x", -float(_PUSH), float(_PUSH), 0.0, "initial horizontal force on the hull"),
        Dimension(
            "roughness", 0.0, 2.0, 1.0,
            "factor on the terrain's random slope changes (1 = the env's own terrain)",
        ),
    )
    default_search = ("push_x",)

    def reset(self, env: gym.Env, point: Point | None, seed: int) -> np.ndarray:
        if point is None:
            return super().reset(env, None, seed)
        rough = float(point.get("roughness", 1.0))
        if rough < 0:
            raise EnvError(f"roughness must be >= 0, got {rough}")
        rules = [
            _queue(-self._PUSH, self._PUSH, [float(point.get("push_x", 0.0))]),
            # The terrain's slope changes are the only scalar uniform(-1, 1) draws.
            (lambda lo, hi: lo == -1 and hi == 1, lambda v: v * rough),
        ]
        return _reset_with(env, seed, rules)


ADAPTERS: dict[str, type[EnvAdapter]] = {
    "CartPole-v1": CartPoleAdapter,
    "CartPole-v0": CartPoleAdapter,
    "LunarLander-v3": LunarLanderAdapter,
    "BipedalWalker-v3": BipedalWalkerAdapter,
}


def _kwargs_message(env_id: str, kwargs: Mapping[str, Any], exc: Exception) -> str:
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


def check_env_id(env_id: str) -> None:
    """Raise EnvError with a "did you mean" when gymnasium does not know `env_id`."""
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise EnvError(f"unknown env id {env_id!r}{hint}")


@dataclass(frozen=True)
class Binding:
    """An env bound to a spec: its adapter, horizon, and the search space in use."""

    env_id: str
    kwargs: Mapping[str, Any]
    horizon: int
    space: tuple[Dimension, ...]
    """The searched dimensions, with the spec's ranges (or the defaults)."""
    reset_seed: int = 0
    """Seed of every falsification reset: fixes terrain and env noise per search."""
    adapter: EnvAdapter = field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    observation_space: gym.Space = field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    action_space: gym.Space = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    @property
    def action_kind(self) -> ActionKind:
        return "discrete" if isinstance(self.action_space, gym.spaces.Discrete) else "continuous"

    @property
    def bounds(self) -> np.ndarray:
        """[d, 2] array of the searched ranges."""
        return np.array([[d.lo, d.hi] for d in self.space], dtype=np.float64)

    def make(self) -> gym.Env:
        return self.adapter.make()

    def point(self, values: Sequence[float] | np.ndarray) -> Point:
        """The point whose searched coordinates are `values`, in `space` order."""
        return {d.name: float(v) for d, v in zip(self.space, values)}

    def reset(self, env: gym.Env, point: Point | None, seed: int | None = None) -> np.ndarray:
        """Deterministic reset to `point` (None: the env's own initial distribution)."""
        full = None
        if point is not None:
            full = {d.name: d.default for d in self.adapter.dimensions if d.default is not None}
            full.update(point)
        return np.asarray(self.adapter.reset(env, full, self.reset_seed if seed is None else seed))


def bind(
    spec: Any = None,
    *,
    env_id: str | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    horizon: int | None = None,
    reset_seed: int = 0,
) -> Binding:
    """Bind a `stl.SpecFile` (or a bare env id) to its env adapter and search space.

    Raises EnvError for an unknown env id, keyword arguments the env does not accept,
    and search names the env does not have (listing the valid ones).
    """
    if spec is not None:
        env_id, env_kwargs = spec.env_id, dict(spec.env_kwargs)
        horizon = horizon or spec.horizon
        search = dict(spec.search)
    else:
        search = {}
    if env_id is None:
        raise EnvError("no env given: pass a spec file or --env ENV_ID")
    env_kwargs = dict(env_kwargs or {})
    check_env_id(env_id)
    adapter = ADAPTERS.get(env_id, EnvAdapter)(env_id, env_kwargs)
    known = {d.name: d for d in adapter.dimensions}
    for name, (lo, hi) in search.items():
        if name not in known:
            valid = ", ".join(known) or "none (no search space is defined for this env)"
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            where = _where(spec, f"search:{name}")
            raise EnvError(
                f"{where}env {env_id} has no search dimension {name!r}{hint}; valid: {valid}"
            )
    if search:
        space = tuple(
            Dimension(n, float(lo), float(hi), known[n].default, known[n].doc)
            for n, (lo, hi) in search.items()
        )
    else:
        space = tuple(known[n] for n in adapter.default_search)
    env = adapter.make()
    try:
        default_horizon = gym.spec(env_id).max_episode_steps or 1000
        horizon = int(horizon or default_horizon)
        if horizon <= 0:
            raise EnvError(f"horizon must be positive, got {horizon}")
        return Binding(
            env_id=env_id,
            kwargs=env_kwargs,
            horizon=horizon,
            space=space,
            reset_seed=reset_seed,
            adapter=adapter,
            observation_space=env.observation_space,
            action_space=env.action_space,
        )
    finally:
        env.close()


def _where(spec: Any, key: str) -> str:
    pos = getattr(spec, "positions", {}).get(key)
    src = getattr(spec, "source", None)
    if pos and src:
        return f"{src}:{pos[0]}:{pos[1]}: "
    return f"{src}: " if src else ""
