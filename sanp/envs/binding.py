"""`bind()`: an env id (or a spec) bound to its adapter, horizon and search space.

A point of the search space fixes an episode completely: unsearched dimensions take
their default, and the env's remaining randomness comes from the point's reset seed
(`sanp.types.RESET_SEED`), which `Binding.point` derives from the searched values so
every point sees its own terrain and noise — unless the spec pins one seed for every
episode (`reset_seed N`). See `sanp.envs` for an example.
"""
from __future__ import annotations

import contextlib
import difflib
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import gymnasium as gym
import numpy as np

from sanp.envs.api import Dimension, EnvAdapter
from sanp.envs.disturbance import DisturbanceSignal, values_at
from sanp.envs.registry import adapter_class, aliases, canonical, env_text, parse_env_text, variants
from sanp.errors import EnvError, SanpError, first_line
from sanp.types import RESET_SEED, ActionKind, Point


@dataclass(frozen=True)
class Binding:
    """An env bound to a spec: its adapter, horizon, and the search space in use."""

    env_id: str
    kwargs: Mapping[str, Any]
    horizon: int
    space: tuple[Dimension, ...]
    """The searched dimensions, with the spec's ranges (or the defaults): the initial
    state's, then one per piece of each disturbance (`NAME[j]`, sanp.envs.disturbance)."""
    reset_seed: int | None = None
    """The spec's pinned reset seed for every episode; None: each point carries its own."""
    reset_namespace: int | None = None
    """Hashed with a point's searched values into its reset seed (`episode_seed`): a stream
    of the run's seed tree (`for_run`), so two runs, or the loop and the held-out check,
    give the same values other terrain; None outside a run (the values alone)."""
    disturbances: tuple[DisturbanceSignal, ...] = ()
    """The spec's disturbance signals, applied at every step from a point's pieces."""
    adapter: EnvAdapter = field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    observation_space: gym.Space = field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    action_space: gym.Space = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    @property
    def env_text(self) -> str:
        """The env as a spec's env line (and `--env`) writes it: `LunarLander-v3(continuous=true)`."""
        return env_text(self.env_id, self.kwargs)

    @property
    def action_kind(self) -> ActionKind:
        return "discrete" if isinstance(self.action_space, gym.spaces.Discrete) else "continuous"

    @property
    def return_bounds(self) -> tuple[float, float] | None:
        """The least and greatest return of an episode of `horizon` steps, when the
        adapter knows the bounds of one step's reward (None: unknown)."""
        r = getattr(self.adapter, "step_reward", None)
        return None if r is None else (min(0.0, r[0] * self.horizon), max(0.0, r[1] * self.horizon))

    @property
    def bounds(self) -> np.ndarray:
        """[d, 2] array of the searched ranges."""
        return np.array([[d.lo, d.hi] for d in self.space], dtype=np.float64)

    @property
    def state_space(self) -> tuple[Dimension, ...]:
        """The searched dimensions that set the initial state (the space without the
        disturbance pieces, which come last)."""
        return self.space[: len(self.space) - sum(d.pieces for d in self.disturbances)]

    def make(self) -> gym.Env:
        with adapter_errors(self.adapter, "make"):
            return self.adapter.make()

    def disturbance_at(self, point: Point | None, t: int) -> dict[str, float]:
        """The disturbance values `point` gives for step `t` (empty: none)."""
        return values_at(self.disturbances, point, t, self.horizon)

    def step(self, env: gym.Env, action: Any, point: Point | None, t: int) -> tuple:
        """`env.step(action)` at step `t` of the episode from `point`, under the point's
        disturbance (the env as is when it gives none)."""
        if not self.disturbances:  # the rollout loop's common case: no lookup per step
            return env.step(action)
        values = self.disturbance_at(point, t)
        if not values:
            return env.step(action)
        with adapter_errors(self.adapter, "disturbed_step"):
            return self.adapter.disturbed_step(env, action, values)

    def point(self, values: Sequence[float] | np.ndarray) -> Point:
        """The point whose searched coordinates are `values`, in `space` order, with its
        episode's reset seed unless the spec pins one (see `episode_seed`)."""
        point = {d.name: float(v) for d, v in zip(self.space, values)}
        if self.reset_seed is None:
            point[RESET_SEED] = episode_seed(point.values(), self.reset_namespace)
        return point

    def for_run(self, seed: int, stream: str = "reset") -> Binding:
        """This binding with its points' reset seeds in the namespace of `stream` of the
        run seeded with `seed` (`sanp.seeds`)."""
        from sanp import seeds

        return replace(self, reset_namespace=seeds.integer(seed, stream))

    def seed_of(self, point: Point | None) -> int:
        """The reset seed an episode from `point` uses: the spec's pinned one, else the
        point's own, else 0 (a point built by hand without one)."""
        if self.reset_seed is not None:
            return self.reset_seed
        if point is not None and RESET_SEED in point:
            return int(point[RESET_SEED])
        return 0

    def uniform_points(self, n: int, rng: np.random.Generator) -> list[Point]:
        """`n` points drawn uniformly from the searched ranges (one `rng.uniform` call)."""
        b = self.bounds
        return [self.point(x) for x in rng.uniform(b[:, 0], b[:, 1], size=(n, len(b)))]

    def reset(self, env: gym.Env, point: Point | None, seed: int | None = None) -> np.ndarray:
        """Deterministic reset to `point` (None: the env's own initial distribution), with
        `seed` where given, else the point's (`seed_of`)."""
        full = None
        if point is not None:
            full = {d.name: d.default for d in self.adapter.dimensions if d.default is not None}
            pieces = {d.key(j) for d in self.disturbances for j in range(d.pieces)}
            full.update((k, v) for k, v in point.items() if k != RESET_SEED and k not in pieces)
        with adapter_errors(self.adapter, "reset"):
            return np.asarray(self.adapter.reset(env, full, self.seed_of(point) if seed is None else seed))


def episode_seed(values: Iterable[float], namespace: int | None = None) -> int:
    """A reset seed that is a function of a point's searched values (and of `namespace`,
    a stream of the run's seed tree; None: the values alone): distinct points see
    independent terrain and noise, and a point replays to the same episode anywhere. 53
    bits, so the seed survives any JSON reader that takes numbers as doubles; two of n
    points share one with probability about n^2 / 2^54."""
    prefix = b"" if namespace is None else int(namespace).to_bytes(8, "little")
    digest = hashlib.sha256(prefix + np.asarray(list(values), dtype="<f8").tobytes()).digest()
    return int.from_bytes(digest[:8], "little") >> 11


def episode_limit(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> int | None:
    """The env's own time limit in steps (gymnasium's `max_episode_steps`), None where it
    has none. `env_id` may be an alias or carry its keyword arguments, as in a spec."""
    if "(" in env_id:
        env_id, given = parse_env_text(env_id)
        env_kwargs = {**given, **dict(env_kwargs or {})}
    env_id, _ = canonical(env_id, env_kwargs or {})
    return gym.spec(env_id).max_episode_steps


def bind(
    spec: Any = None,
    *,
    env_id: str | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    horizon: int | None = None,
    reset_seed: int | None = None,
) -> Binding:
    """Bind a `stl.SpecFile` (or a bare env id) to its env adapter and search space.

    Raises EnvError for an unknown env id, keyword arguments the env does not accept,
    and search names the env does not have (listing the valid ones).
    """
    if spec is not None:
        env_id, env_kwargs = spec.env_id, dict(spec.env_kwargs)
        horizon = horizon or spec.horizon
        search = dict(spec.search)
        disturbances = dict(getattr(spec, "disturbances", {}))
        if spec.reset_seed is not None:
            reset_seed = spec.reset_seed
    else:
        search, disturbances = {}, {}
    if env_id is None:
        raise EnvError("no env given: pass a spec file or --env ENV_ID")
    if "(" in env_id:
        env_id, given = parse_env_text(env_id)
        env_kwargs = {**given, **dict(env_kwargs or {})}
    env_id, env_kwargs = canonical(env_id, env_kwargs or {})
    if "render_mode" in env_kwargs:
        raise EnvError(f"{_where(spec, 'env')}render_mode is not an env option sanp takes (it runs envs "
                       "without a screen); remove it from the env line")
    adapter = make_adapter(env_id, env_kwargs)
    space = _search_space(adapter, env_id, search, spec)
    signals = _disturbances(adapter, env_id, disturbances, spec)
    with adapter_errors(adapter, "make"):
        env = adapter.make()
    try:
        limit = gym.spec(env_id).max_episode_steps
        horizon = int(horizon or limit or 1000)
        if horizon <= 0:
            raise EnvError(f"horizon must be positive, got {horizon}")
        for d in signals:
            if d.pieces > horizon:
                raise EnvError(f"{_where(spec, 'disturb:' + d.name)}disturbance {d.name!r} has {d.pieces} pieces "
                               f"but the episode only {horizon} steps; use at most {horizon} pieces")
        binding = Binding(
            env_id=env_id,
            kwargs=env_kwargs,
            horizon=horizon,
            space=space + tuple(dim for d in signals for dim in d.dimensions(horizon)),
            reset_seed=reset_seed,
            disturbances=signals,
            adapter=adapter,
            observation_space=env.observation_space,
            action_space=env.action_space,
        )
        if spec is not None:
            _check_signals(spec, binding)
            if search:
                _check_search(spec, binding, env)
        return binding
    finally:
        env.close()


def _search_space(adapter: Any, env_id: str, search: Mapping[str, tuple[float, float]], spec: Any) -> tuple:
    """The spec's search dimensions with the adapter's defaults and docs, or the
    adapter's default space; an unknown name is an EnvError listing the valid ones."""
    known = {d.name: d for d in adapter.dimensions}
    for name in search:
        if name not in known:
            valid = ", ".join(known) or "none (no search space is defined for this env)"
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            where = _where(spec, f"search:{name}")
            raise EnvError(
                f"{where}env {env_id} has no search dimension {name!r}{hint}; valid: {valid}"
            )
    if search:
        return tuple(
            Dimension(n, float(lo), float(hi), known[n].default, known[n].doc)
            for n, (lo, hi) in search.items()
        )
    return tuple(known[n] for n in adapter.default_search)


_FLOAT32_MAX = float(np.finfo(np.float32).max)  # Box2D takes forces as single-precision floats


def _disturbances(adapter: Any, env_id: str, wanted: Mapping[str, Any], spec: Any) -> tuple[DisturbanceSignal, ...]:
    """The spec's `disturb` lines bound to the adapter's disturbances; an unknown name is
    an EnvError naming the ones the env supports."""
    known = {d.name: d for d in getattr(adapter, "disturbances", ())}
    out = []
    for name, d in wanted.items():
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            valid = (f"it supports: {', '.join(known)}" if known else
                     "it supports none (built in: CartPole push, LunarLander wind and turbulence, "
                     "BipedalWalker push)")
            raise EnvError(f"{_where(spec, 'disturb:' + name)}env {env_id} has no disturbance {name!r}{hint}; {valid}")
        if max(abs(d.lo), abs(d.hi)) > _FLOAT32_MAX:
            raise EnvError(f"{_where(spec, 'disturb:' + name)}disturbance {name!r} range [{d.lo:g}, {d.hi:g}] is "
                           f"beyond what simulators take (single precision: |value| <= {_FLOAT32_MAX:.3g}); "
                           "narrow it")
        out.append(DisturbanceSignal(name, float(d.lo), float(d.hi), int(d.pieces), known[name].doc))
    return tuple(out)


def _check_signals(spec: Any, binding: Binding) -> None:
    """Every obs[i] / action[i] a spec names exists in its env."""
    obs_n = int(np.prod(binding.observation_space.shape or (1,)))
    discrete = isinstance(binding.action_space, gym.spaces.Discrete)
    act_n = 1 if discrete else int(np.prod(binding.action_space.shape or (1,)))
    for sig in spec.signals.values():
        where = _where(spec, sig.name)
        if sig.source == "obs" and sig.index is not None and sig.index >= obs_n:
            raise EnvError(f"{where}obs[{sig.index}]: {binding.env_id}'s observations have {obs_n} values "
                           f"(obs[0] to obs[{obs_n - 1}])")
        if sig.source == "action" and sig.index is not None and sig.index >= act_n:
            if discrete:
                raise EnvError(f"{where}action[{sig.index}]: {binding.env_id}'s action is one discrete "
                               "choice; write `signal NAME = action`")
            raise EnvError(f"{where}action[{sig.index}]: {binding.env_id}'s actions have {act_n} values "
                           f"(action[0] to action[{act_n - 1}])")


def _check_search(spec: Any, binding: Binding, env: gym.Env) -> None:
    """Reset the env at the corners of the search box (at most 16) and its centre: a range
    the env cannot take fails here, at the spec's line, not in the middle of a search."""
    import itertools

    # the disturbance pieces do not change the reset: the corners of the initial state's box
    n = len(binding.state_space)
    lo, hi = binding.bounds[:n, 0], binding.bounds[:n, 1]
    corners = list(itertools.islice(itertools.product(*zip(lo, hi)), 16)) + [tuple((lo + hi) / 2)]
    box = binding.observation_space
    for values in corners:
        try:
            obs = binding.reset(env, binding.point(values))
        except Exception as exc:  # noqa: BLE001 - an env rejects a start in its own way
            raise EnvError(f"{_where(spec, 'search:' + binding.space[0].name)}{binding.env_id} cannot start at "
                           f"{_point_text(binding, values)} ({first_line(exc)}); narrow the search ranges") from None
        if isinstance(box, gym.spaces.Box) and not box.contains(np.asarray(obs, dtype=box.dtype).reshape(box.shape)):
            known = {d.name: d for d in binding.adapter.dimensions}
            bad = next((d for d, v in zip(binding.space, values)
                        if not known[d.name].lo <= v <= known[d.name].hi), binding.space[0])
            raise EnvError(f"{_where(spec, 'search:' + bad.name)}the search box puts {binding.env_id}'s first "
                           f"observation outside its observation space at {_point_text(binding, values)}; "
                           "narrow the search ranges")


def _point_text(binding: Binding, values: Any) -> str:
    return ", ".join(f"{d.name}={v:g}" for d, v in zip(binding.space, values))


def fitting_variant(binding: Binding, load: Callable[[Binding], Any]) -> str | None:
    """When a policy does not fit `binding`, the fix: another form of the same env that
    `load(binding)` accepts, as the text to give (None when there is none)."""
    for env_id, kwargs in variants(binding.env_id, binding.kwargs):
        try:
            load(bind(env_id=env_id, env_kwargs=kwargs, horizon=binding.horizon))
        except SanpError:
            continue
        text = env_text(env_id, kwargs)
        also = "".join(f" (= {a})" for a in aliases(env_id, kwargs))
        return (
            f"{text}{also}: pass --env '{text}' or write `env {text}` on the spec's env line"
        )
    return None


@contextlib.contextmanager
def adapter_errors(adapter: Any, method: str) -> Iterator[None]:
    """An exception from an adapter's code (a plugin's, through an entry point) as one
    EnvError naming the adapter; sanp's own errors pass unchanged."""
    try:
        yield
    except SanpError:
        raise
    except Exception as exc:  # whatever the adapter's code raises
        cls = adapter if isinstance(adapter, type) else type(adapter)
        text = " ".join(str(exc).split())[:200]
        raise EnvError(f"the env adapter {cls.__module__}.{cls.__qualname__} raised {type(exc).__name__} in "
                       f"{method}: {text}; fix the adapter or the package that provides it") from exc


def make_adapter(env_id: str, env_kwargs: Mapping[str, Any]) -> EnvAdapter:
    """The registered adapter for `env_id`; for an unknown env that exposes its state,
    the generic StateAdapter; otherwise the base adapter (no search space)."""
    cls = adapter_class(env_id)
    if cls is not EnvAdapter:
        with adapter_errors(cls, "__init__"):
            return cls(env_id, env_kwargs)
    from sanp.envs.state import StateAdapter

    try:
        return StateAdapter(env_id, env_kwargs)
    except EnvError:
        return EnvAdapter(env_id, env_kwargs)


def _where(spec: Any, key: str) -> str:
    pos = getattr(spec, "positions", {}).get(key)
    src = getattr(spec, "source", None)
    if pos and src:
        return f"{src}:{pos[0]}:{pos[1]}: "
    return f"{src}: " if src else ""
