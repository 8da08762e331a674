"""Regions from data and from names: the operating domain (the bounding box of the
observations a reference policy visits over the spec's search space), and the resolver
that turns signal names into observation indices.

Example:
    >>> dom = visited_box(deployed(dense), binding, names=obs_names(spec, 4))
    >>> r = Resolver(spec, binding, visited=lambda: dom)
    >>> r.region({"x": (0.5, 2.4), "theta": (0.05, 0.2)})      # other dims: obs space or dom
    >>> r.linear({"theta_dot": 1.0}, ">=", 0.5)
"""
from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from sanp.prove.properties import MAX_BOUND, Box, Linear, PropertyError

if TYPE_CHECKING:
    from sanp.envs.binding import Binding
    from sanp.types import Actor
    from stl import SpecFile

MAX_CORNERS = 256
"""Corners of the search space run besides the random points (all of them up to 8 dimensions)."""


def obs_names(spec: SpecFile, obs_dim: int) -> tuple[str, ...]:
    """A name per observation index: the spec's signal bound to obs[i], else 'obs[i]'."""
    names = [f"obs[{i}]" for i in range(obs_dim)]
    for name, sig in (spec.signals.items() if spec is not None else ()):
        if sig.source == "obs" and sig.index is not None and 0 <= sig.index < obs_dim \
                and names[sig.index] == f"obs[{sig.index}]":
            names[sig.index] = name
    return tuple(names)


def search_points(binding: Binding, episodes: int, seed: int) -> list[dict[str, float]]:
    """`episodes` uniform points of the binding's search space plus its corners."""
    bounds = binding.bounds
    pts = binding.uniform_points(episodes, np.random.default_rng(seed))
    if 0 < 2 ** len(bounds) <= MAX_CORNERS:
        pts += [binding.point(c) for c in itertools.product(*bounds)]
    return pts


def visited_box(actor: Actor, binding: Binding, *, episodes: int = 200, seed: int = 0, names: tuple[str, ...] = ()) -> Box:
    """The bounding box of every observation at which `actor` acts, over episodes from
    `episodes` uniform points and the corners of the binding's search space.

    Raises PropertyError when the env has no search space or no episode stays finite.
    """
    from sanp import rollout

    if not binding.space:
        raise PropertyError(f"env {binding.env_id} has no search space: 'visited' needs one; give the region's bounds")
    trajs = rollout.run_batch(actor, binding, search_points(binding, episodes, seed), record_states=False)
    obs = [t.observations[: max(t.length, 1)] for t in trajs if not t.nonfinite]
    if not obs:
        raise PropertyError("every episode of the reference policy went non-finite: no visited region")
    states = np.concatenate(obs).astype(np.float64)
    return Box(tuple(states.min(axis=0)), tuple(states.max(axis=0)), names)


class Resolver:
    """Names -> indices for one spec and policy. Dimensions a region leaves out take the
    observation space's bounds where they are finite, else the visited region's."""

    def __init__(self, spec: SpecFile, binding: Binding | None, obs_dim: int, visited: Callable[[], Box] | None = None):
        self.names = obs_names(spec, obs_dim)
        self.obs_dim = obs_dim
        self._visited = visited
        self._visited_box: Box | None = None
        space = binding.observation_space if binding is not None else None
        lo = np.asarray(getattr(space, "low", np.full(obs_dim, -np.inf)), np.float64).reshape(-1)
        hi = np.asarray(getattr(space, "high", np.full(obs_dim, np.inf)), np.float64).reshape(-1)
        # gymnasium writes "unbounded" as +-float32 max
        big = np.finfo(np.float32).max / 2
        self.space_lo = np.where(np.abs(lo) >= big, -np.inf, lo)
        self.space_hi = np.where(np.abs(hi) >= big, np.inf, hi)

    def visited(self) -> Box:
        """The visited region (computed once)."""
        if self._visited is None:
            raise PropertyError("'visited' needs a reference policy and an env search space")
        if self._visited_box is None:
            box = self._visited()
            self._visited_box = Box(box.lo, box.hi, self.names)
        return self._visited_box

    def index(self, name: str) -> int:
        """The observation index of a signal name (or 'obs[i]')."""
        if name in self.names:
            return self.names.index(name)
        if name.startswith("obs[") and name.endswith("]") and name[4:-1].isdigit():
            i = int(name[4:-1])
            if i < self.obs_dim:
                return i
        close = difflib.get_close_matches(name, self.names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise PropertyError(f"{name!r} is not an observation signal{hint} (have {', '.join(self.names)})")

    def region(self, ranges: Mapping[str, tuple[float, float]]) -> Box:
        """A box from `name -> (lo, hi)`; the other dimensions from the observation
        space, or the visited region where the space is unbounded."""
        idx = {self.index(n): (float(a), float(b)) for n, (a, b) in ranges.items()}
        lo, hi = self.space_lo.copy(), self.space_hi.copy()
        open_dims = [i for i in range(self.obs_dim) if i not in idx and not (np.isfinite(lo[i]) and np.isfinite(hi[i]))]
        if open_dims:
            if self._visited is None:
                raise PropertyError(
                    f"{', '.join(self.names[i] for i in open_dims)} unbounded in the observation space: "
                    "give its range in the region"
                )
            dom = self.visited()
            for i in open_dims:
                lo[i], hi[i] = dom.lo[i], dom.hi[i]
        # the infinite sides left are those of dimensions `ranges` replaces
        base = Box(tuple(np.clip(np.nan_to_num(lo), -MAX_BOUND, MAX_BOUND)),
                   tuple(np.clip(np.nan_to_num(hi), -MAX_BOUND, MAX_BOUND)), self.names)
        return Box.override(base, idx)

    def linear(self, terms: Mapping[str, float], op: object, rhs: float) -> Linear:
        """`sum(coeff * name) op rhs` over observation signals (`Linear` checks `op`)."""
        return Linear(tuple((self.index(n), float(c)) for n, c in terms.items()), op, float(rhs))  # type: ignore[arg-type]
