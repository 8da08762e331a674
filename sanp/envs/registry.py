"""Which adapter drives which env id: built-ins, `register()`, and the `sanp.envs`
entry-point group through which an installed package ships adapters.

An entry point names either an adapter class (registered for the entry point's name,
which is the env id) or a function that takes no argument and calls `register` itself:

    [project.entry-points."sanp.envs"]
    "MyGrid-v0" = "my_pkg.sanp_adapter:GridAdapter"
    my_pkg = "my_pkg.sanp_adapter:register_all"

One env, one name: a registered id whose gymnasium spec only adds keyword arguments to
another id's entry point, with the same time limit (LunarLanderContinuous-v3 =
LunarLander-v3 with continuous=True) is bound, reported and exported under the base id
with those keyword arguments.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

import gymnasium as gym

from sanp.envs.api import EnvAdapter
from sanp.errors import EnvError
from sanp.extras import load

ENTRY_POINT_GROUP = "sanp.envs"

_REGISTRY: dict[str, type[EnvAdapter]] = {}
_BUILTINS: dict[str, str] = {
    "CartPole-v0": "sanp.envs.classic:CartPoleAdapter",
    "CartPole-v1": "sanp.envs.classic:CartPoleAdapter",
    "Pendulum-v1": "sanp.envs.classic:PendulumAdapter",
    "MountainCar-v0": "sanp.envs.classic:MountainCarAdapter",
    "MountainCarContinuous-v0": "sanp.envs.classic:MountainCarAdapter",
    "Acrobot-v1": "sanp.envs.classic:AcrobotAdapter",
    "LunarLander-v3": "sanp.envs.box2d:LunarLanderAdapter",
    "BipedalWalker-v3": "sanp.envs.box2d:BipedalWalkerAdapter",
    "highway-v0": "sanp.envs.highway:HighwayAdapter",
    "highway-fast-v0": "sanp.envs.highway:HighwayAdapter",
    "ArchSinglePendulum-v0": "sanp.envs.arch:ArchAdapter",
    "ArchTORA-v0": "sanp.envs.arch:ArchAdapter",
    "ArchACC-v0": "sanp.envs.arch:ArchAdapter",
}
_ENV_PACKAGES = {"highway": "highway_env", "Arch": "sanp.envs.arch"}
"""Env id prefix -> module whose import registers those ids with gymnasium (a third-party
package's extra is in sanp.extras; sanp.envs.arch is sanp's own)."""
_loaded_entry_points = False
_FAILED: dict[str, str] = {}
"""Entry point name -> why it failed to load."""


def register(env_id: str, adapter: type[EnvAdapter]) -> None:
    """Make `adapter` drive `env_id` (replacing any earlier adapter for that id).

    Example:
        >>> from sanp.envs import StateAdapter, register
        >>> register("MyPendulum-v0", StateAdapter)
    """
    if not (isinstance(adapter, type) and issubclass(adapter, EnvAdapter)):
        raise EnvError(
            f"register({env_id!r}, ...): the adapter must be a subclass of "
            f"sanp.envs.EnvAdapter, got {adapter!r}"
        )
    _REGISTRY[env_id] = adapter


def registered() -> list[str]:
    """Every env id with an adapter: built-in, registered, or from an entry point."""
    _load_entry_points()
    return sorted(set(_BUILTINS) | set(_REGISTRY))


def adapter_class(env_id: str) -> type[EnvAdapter]:
    """The adapter for `env_id`; the base EnvAdapter (no search space) when none is known."""
    _load_entry_points()
    _failed_entry_point(env_id)
    if env_id in _REGISTRY:
        return _REGISTRY[env_id]
    if env_id in _BUILTINS:
        module, _, name = _BUILTINS[env_id].partition(":")
        return getattr(__import__(module, fromlist=[name]), name)
    return EnvAdapter


def _load_entry_points() -> None:
    """Load every `sanp.envs` entry point once. One that fails (its module does not
    import, its target is neither an adapter class nor a function, the function raises)
    is remembered, not raised: it only matters to a run of the env it names (or of an
    env id nothing else knows), whose error then says why."""
    global _loaded_entry_points
    if _loaded_entry_points:
        return
    _loaded_entry_points = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        where = f"the sanp.envs entry point {ep.name!r} ({ep.value})"
        try:
            target = ep.load()
        except Exception as exc:  # noqa: BLE001 - any failure of someone else's package
            _FAILED[ep.name] = f"{where} does not load ({type(exc).__name__}: {_one_line(exc)})"
            continue
        if isinstance(target, type) and issubclass(target, EnvAdapter):
            _REGISTRY.setdefault(ep.name, target)
        elif callable(target) and not isinstance(target, type):
            try:
                target()
            except Exception as exc:  # noqa: BLE001
                _FAILED[ep.name] = f"{where} raised {type(exc).__name__}: {_one_line(exc)}"
        else:
            _FAILED[ep.name] = f"{where} is neither a sanp.envs.EnvAdapter subclass nor a function"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _failed_entry_point(env_id: str) -> None:
    """EnvError when the entry point named `env_id` failed to load."""
    if env_id in _FAILED:
        raise EnvError(f"env {env_id!r}: {_FAILED[env_id]}; fix or reinstall the package that declares it")


def _import_env_package(env_id: str) -> None:
    for prefix, module in _ENV_PACKAGES.items():
        if env_id.startswith(prefix) and env_id not in gym.registry:
            load(module, f"env {env_id!r}")


def check_env_id(env_id: str) -> None:
    """Raise EnvError with a "did you mean" when gymnasium does not know `env_id`."""
    _load_entry_points()  # an adapter package may register its envs with gymnasium
    _failed_entry_point(env_id)
    _import_env_package(env_id)
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    if _FAILED:  # a broken plugin may be what should have registered it
        hint += f" ({next(iter(_FAILED.values()))}; it may be what provides this env)"
    raise EnvError(f"unknown env id {env_id!r}{hint}")


def canonical(env_id: str, kwargs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The one name of an env: `('LunarLanderContinuous-v3', {})` ->
    `('LunarLander-v3', {'continuous': True})`; other ids are returned unchanged."""
    check_env_id(env_id)
    spec = gym.spec(env_id)
    if not spec.kwargs:
        return env_id, dict(kwargs)
    for other in gym.registry.values():
        if (
            other.id != env_id
            and not other.kwargs
            and other.entry_point == spec.entry_point
            and other.version == spec.version
            and other.max_episode_steps == spec.max_episode_steps
        ):
            return other.id, {**spec.kwargs, **kwargs}
    return env_id, dict(kwargs)


def aliases(env_id: str, kwargs: Mapping[str, Any]) -> list[str]:
    """Registered ids that name `env_id` with `kwargs` exactly (LunarLander-v3 with
    continuous=True -> ['LunarLanderContinuous-v3'])."""
    found = []
    for other in gym.registry.values():
        if other.kwargs and other.id != env_id and canonical(other.id, {}) == (env_id, dict(kwargs)):
            found.append(other.id)
    return found


def variants(env_id: str, kwargs: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The other registered forms of the same simulator, canonical: for LunarLander-v3,
    `[('LunarLander-v3', {'continuous': True})]`; used to name the fix when a policy
    does not fit the env it was given."""
    base = gym.spec(env_id)
    seen = {(env_id, tuple(sorted(kwargs.items())))}
    out = []
    for other in list(gym.registry.values()):
        if other.entry_point != base.entry_point or other.version != base.version:
            continue
        form = canonical(other.id, {})
        key = (form[0], tuple(sorted(form[1].items())))
        if key not in seen:
            seen.add(key)
            out.append(form)
    return out


def env_text(env_id: str, kwargs: Mapping[str, Any]) -> str:
    """The spec's (and `--env`'s) form: `LunarLander-v3(continuous=true)`."""
    if not kwargs:
        return env_id
    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return f'"{v}"' if isinstance(v, str) else repr(v)
    return f"{env_id}(" + ", ".join(f"{k}={fmt(v)}" for k, v in kwargs.items()) + ")"


def parse_env_text(text: str) -> tuple[str, dict[str, Any]]:
    """`--env`'s argument, in a spec's env-line form: `ENV_ID` or
    `ENV_ID(key=value, ...)` (values: true/false, numbers, "strings")."""
    import stl

    try:
        spec = stl.parse(f"env {text}\nreq _: always (1 > 0)\n", "--env")
    except stl.SpecError:
        raise EnvError(
            f"--env {text!r}: expected an env id, optionally with keyword arguments as on a "
            f"spec's env line, e.g. --env 'LunarLander-v3(continuous=true)'"
        ) from None
    return spec.env_id, dict(spec.env_kwargs)

