"""`prove_closed_loop`: prove or refute a spec's requirements over a horizon, from the
whole search box, by partitioning it and propagating every cell (`sanp.reach.engine`).

The search box is split breadth first: every cell whose verdict is unknown for some
requirement is halved along its widest searched dimension (measured relative to the
box, so dimensions of different units are treated alike), level by level, until every
cell is decided, the budget of cells is spent or the time is up. Unknown and refuted
cells have their centre replayed in the real env (sanp's rollout, the deployed
float32 policy): a replay that violates the requirement is a counterexample, and the
command that replays it is reported.

Example:
    >>> result = prove_closed_loop(policy, spec, binding, ReachConfig(horizon=50))
    >>> result.requirements[0].fractions       # {'proved': ..., 'refuted': ..., 'unknown': ...}
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sanp.envs.dynamics import Dynamics, dynamics_of
from sanp.reach import spec as rs
from sanp.reach.engine import ClosedLoop, Requirement
from sanp.reach.spec import ReachError


@dataclass(frozen=True)
class ReachConfig:
    """Settings of one closed-loop proof."""

    horizon: int
    """Steps of the closed loop (observations at times 0..horizon)."""
    max_cells: int = 4096
    """Most cells of the partition of the search box."""
    timeout: float = 600.0
    """Seconds before the partition stops refining (the cells left are unknown)."""
    replays: int = 32
    """Most unknown or refuted cells whose centre is replayed in the env."""
    batch: int = 512
    """Cells propagated together (memory: about batch * horizon * 100 bytes)."""
    max_boxes: int = 16
    """Most boxes a cell is carried as (the successors of an ambiguous argmax are kept
    apart up to this many, then the nearest are merged)."""
    sensitive_split: bool = True
    """Split along the dimension whose spread widens the tube most (measured once, at the
    start), weighted by the cell's width; False: the widest dimension relative to the box."""
    split_ambiguous: int = 0
    """Bisections of a box whose argmax is ambiguous before its actions are stepped
    (measured on CartPole: 2 costs ~20x the time for no longer horizon)."""
    sets: str = "auto"
    """How a cell is carried: "box" (intervals, `sanp.reach.engine`), "zonotope" (affine
    sets, `sanp.reach.zono_engine`) or "auto": zonotopes for continuous-time dynamics
    (the plant's flow rotates or contracts the set, which boxes wrap), boxes otherwise."""
    order: int = 4
    """Zonotope sets: the order of the Taylor integrator of continuous-time dynamics."""
    max_generators: int = 40
    """Zonotope sets: most generators of a set (smaller ones are boxed)."""
    substeps: int | None = None
    """Zonotope sets: Taylor substeps per control period (rounded up to a power of 2;
    default: a quarter of the dynamics' `substeps`, its float model's RK4 steps)."""

    def resolved_sets(self, dyn: Dynamics) -> str:
        """"box" or "zonotope" for these dynamics."""
        if self.sets not in ("auto", "box", "zonotope"):
            raise ReachError(f"sets {self.sets!r}: use auto, box or zonotope")
        if self.sets != "auto":
            return self.sets
        return "zonotope" if dyn.time == "continuous" else "box"


@dataclass(frozen=True)
class Counterexample:
    """An initial state whose real trajectory (the env, the deployed policy) violates."""

    point: dict[str, float]
    robustness: float
    cell_status: str
    """"refuted" (the whole cell violates, in the model) or "unknown"."""


@dataclass(frozen=True, eq=False)
class RequirementResult:
    name: str
    verdict: str
    """proved (every cell), refuted (a replayed counterexample), or unknown."""
    fractions: dict[str, float]
    """Volume fractions of the search box: proved, refuted (every trajectory of the
    model from those cells violates), unknown."""
    proved_by_horizon: np.ndarray
    """[horizon + 1]: the volume fraction proved for each horizon n <= horizon."""
    counterexamples: tuple[Counterexample, ...]
    tube: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)
    """Per signal the requirement reads: lower and upper bound over time, over the
    cells proved (the tube the proof certifies)."""

    def largest_horizon(self, share: float = 0.99) -> int:
        """The largest n such that the requirement is proved on `share` of the volume
        for every horizon up to n (-1: not even at 0)."""
        ok = self.proved_by_horizon >= share - 1e-12
        return int(np.argmin(ok) - 1) if not ok.all() else len(ok) - 1


@dataclass(frozen=True, eq=False)
class ReachResult:
    horizon: int
    requirements: tuple[RequirementResult, ...]
    cells: int
    seconds: float
    method: str
    stopped_by: str
    """"decided" (no unknown cell left), "cells" (budget), or "timeout"."""
    sets: str = "box"
    """How the cells were carried: "box" or "zonotope"."""


def build(policy: Any, spec: Any, binding: Any, horizon: int, names: list[str] | None = None,
          config: ReachConfig | None = None) -> tuple[ClosedLoop, Dynamics, np.ndarray, np.ndarray, list[int]]:
    """The closed loop of `policy` in `binding`'s env (over the sets `config` chooses,
    boxes by default) and the initial state box: its lower and upper corner and the
    indices of the searched state components."""
    from sanp.reach.bounds import bounded

    dyn = dynamics_of(binding)
    net = bounded(policy)
    signals = {}
    for name, sig in spec.signals.items():
        if sig.source == "obs":
            signals[name] = ("obs", int(sig.index))
        elif sig.source == "action":
            signals[name] = ("act", int(sig.index or 0))
    chosen = list(spec.requirements) if not names else names
    reqs = []
    for name in chosen:
        if name not in spec.requirements:
            raise ReachError(f"no requirement {name!r} in the spec; it has {', '.join(spec.requirements)}")
        f = spec.requirements[name].formula
        rs.check_supported(name, f, signals)
        reqs.append(Requirement(name, f, rs.shape(f)))
    discrete = binding.action_kind == "discrete"
    if config is not None and config.resolved_sets(dyn) == "zonotope":
        from sanp.reach.zono_engine import ZonoLoop

        loop: ClosedLoop = ZonoLoop(net, dyn, discrete, signals, reqs, horizon, order=config.order,
                                    max_generators=config.max_generators, substeps=config.substeps)
    else:
        loop = ClosedLoop(net, dyn, discrete, signals, reqs, horizon)
    lo, hi, searched = initial_box(dyn, binding)
    return loop, dyn, lo, hi, searched


def initial_box(dyn: Dynamics, binding: Any) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The box of initial states: searched components over the spec's ranges, the others
    at the adapter's default or over the env's own initial range."""
    known = {d.name: d for d in binding.adapter.dimensions}
    space = {d.name: d for d in binding.space}
    lo, hi, searched = [], [], []
    for i, name in enumerate(dyn.state_names):
        if name in space:
            lo.append(space[name].lo)
            hi.append(space[name].hi)
            searched.append(i)
        elif name in dyn.start:
            lo.append(dyn.start[name][0])
            hi.append(dyn.start[name][1])
        elif name in known and known[name].default is not None:
            lo.append(known[name].default)
            hi.append(known[name].default)
        elif name in known:
            lo.append(known[name].lo)
            hi.append(known[name].hi)
        else:
            raise ReachError(f"{type(dyn).__name__} names state component {name!r}, which env "
                             f"{binding.env_id}'s adapter has no dimension for; name the components "
                             f"as the adapter's dimensions ({', '.join(known) or 'none'})")
    for d in binding.space:
        if d.name not in dyn.state_names:
            raise ReachError(f"search {d.name}: not a state component of the declared dynamics "
                             f"({', '.join(dyn.state_names)}); closed-loop proofs search over states")
    return np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64), searched


def prove_closed_loop(policy: Any, spec: Any, binding: Any, config: ReachConfig, *,
                      requirements: list[str] | None = None, replay: Callable | None = None,
                      on_level: Callable[[int, int, float], None] | None = None) -> ReachResult:
    """Prove the spec's requirements over `config.horizon` steps from the whole search
    box. `replay(points) -> list of {requirement: robustness}` runs the real env (default:
    sanp's rollout with the deployed policy); `on_level(level, cells, unknown)` reports
    progress."""
    start = time.monotonic()
    loop, dyn, lo0, hi0, searched = build(policy, spec, binding, config.horizon, requirements, config)
    loop.max_boxes, loop.split_ambiguous = config.max_boxes, config.split_ambiguous
    reqs = loop.requirements
    T = config.horizon
    scale = np.where(hi0 - lo0 > 0, hi0 - lo0, 1.0)
    if config.sensitive_split and len(searched) > 1:
        scale = scale / _sensitivity(loop, lo0, hi0, searched)
    queue_lo, queue_hi = lo0[None].copy(), hi0[None].copy()
    leaves: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    tubes: list[dict] = [{} for _ in reqs]
    level, stopped_by = 0, "decided"
    while len(queue_lo):
        keep_status, keep_from, keep_to = [], [], []
        for s in range(0, len(queue_lo), config.batch):
            res = loop.run(queue_lo[s:s + config.batch], queue_hi[s:s + config.batch])
            keep_status.append(res.status)
            keep_from.append(res.proved_from)
            keep_to.append(res.proved_to)
            _accumulate(tubes, loop, reqs, res)
        status = np.concatenate(keep_status, axis=1)
        p_from, p_to = np.concatenate(keep_from, axis=1), np.concatenate(keep_to, axis=1)
        undecided = (status == 0).any(axis=0)
        n_cells = sum(len(x[0]) for x in leaves) + len(queue_lo) + int(undecided.sum())
        out_of_time = time.monotonic() - start > config.timeout
        can_split = bool(searched) and undecided.any() and n_cells <= config.max_cells and not out_of_time
        final = ~undecided if can_split else np.ones(len(queue_lo), bool)
        leaves.append((queue_lo[final], queue_hi[final], status[:, final], p_from[:, final], p_to[:, final]))
        if on_level is not None:
            on_level(level, len(queue_lo), float(undecided.sum()))
        if not can_split:
            if undecided.any():
                stopped_by = "timeout" if out_of_time else "cells"
            break
        queue_lo, queue_hi = _split(queue_lo[undecided], queue_hi[undecided], scale, searched)
        level += 1
    cells_lo = np.concatenate([x[0] for x in leaves])
    cells_hi = np.concatenate([x[1] for x in leaves])
    status = np.concatenate([x[2] for x in leaves], axis=1)
    p_from = np.concatenate([x[3] for x in leaves], axis=1)
    p_to = np.concatenate([x[4] for x in leaves], axis=1)
    vol = np.prod(np.where(scale[searched] > 0, (cells_hi - cells_lo)[:, searched] / scale[searched], 1.0), axis=1) \
        if searched else np.ones(len(cells_lo))
    vol = vol / vol.sum()
    cex = _replays(binding, policy, spec, reqs, cells_lo, cells_hi, status, vol, searched, config, replay)
    out = []
    for r, req in enumerate(reqs):
        frac = {"proved": float(vol[status[r] == 1].sum()), "refuted": float(vol[status[r] == -1].sum()),
                "unknown": float(vol[status[r] == 0].sum())}
        n = np.arange(T + 1)
        by_h = ((p_from[r][:, None] <= n[None]) & (n[None] <= p_to[r][:, None])) * vol[:, None]
        verdict = "refuted" if cex[r] else ("proved" if frac["proved"] >= 1.0 - 1e-12 else "unknown")
        out.append(RequirementResult(req.name, verdict, frac, by_h.sum(axis=0), tuple(cex[r]), tubes[r]))
    sets = config.resolved_sets(dyn)
    return ReachResult(T, tuple(out), len(cells_lo), time.monotonic() - start, _method(config, sets), stopped_by, sets)


def _method(config: ReachConfig, sets: str) -> str:
    if sets == "box":
        return "interval dynamics (outward rounding) + CROWN network bounds, box partition"
    return (f"zonotope sets (affine arithmetic, Taylor order {config.order} with interval Lagrange remainder, "
            f"at most {config.max_generators} generators) + CROWN network bounds on zonotopes, box partition")


def _sensitivity(loop: ClosedLoop, lo: np.ndarray, hi: np.ndarray, searched: list[int]) -> np.ndarray:
    """Per state component, how much of the tube an initial spread along it makes: a box
    1/8 of the search box wide along that component alone (a point in the others) is
    propagated from the centre, and its observation tube's width, relative to the widest
    of them per observation, summed at the step where the first of them stops. Components
    the search does not span get 1. Splitting cells along `width / scale * sensitivity`
    then halves the dimensions that matter first."""
    centre = (lo + hi) / 2
    t_lo, t_hi = [], []
    for i in searched:
        a, b = centre.copy(), centre.copy()
        a[i], b[i] = centre[i] - (hi[i] - lo[i]) / 16, centre[i] + (hi[i] - lo[i]) / 16
        t_lo.append(a)
        t_hi.append(b)
    res = loop.run(np.array(t_lo), np.array(t_hi))
    width = res.obs_hi - res.obs_lo  # [d_s, T+1, d_obs]
    t = int(min(res.stopped.min(), loop.horizon))
    w = width[:, t]
    w = np.where(np.isfinite(w), w, 1e300)
    rel = w / np.maximum(w.max(axis=0, keepdims=True), 1e-300)
    sens = np.ones(len(lo))
    sens[searched] = np.maximum(rel.sum(axis=1), 1e-3)
    return sens


def _split(lo: np.ndarray, hi: np.ndarray, scale: np.ndarray, searched: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Halve each cell along its widest searched dimension, relative to the box."""
    rel = (hi - lo)[:, searched] / scale[searched]
    dim = np.asarray(searched)[np.argmax(rel, axis=1)]
    mid = (lo[np.arange(len(lo)), dim] + hi[np.arange(len(lo)), dim]) / 2
    left_hi, right_lo = hi.copy(), lo.copy()
    left_hi[np.arange(len(lo)), dim] = mid
    right_lo[np.arange(len(lo)), dim] = mid
    return np.concatenate([lo, right_lo]), np.concatenate([left_hi, hi])


def _accumulate(tubes: list[dict], loop: ClosedLoop, reqs: list, res: Any) -> None:
    """Hull over the proved cells of every signal each requirement reads."""
    for r, req in enumerate(reqs):
        ok = res.status[r] == 1
        if not ok.any():
            continue
        for name in _signals_of(req.formula, loop.signals):
            source, i = loop.signals[name]
            lo, hi = (res.obs_lo, res.obs_hi) if source == "obs" else (res.act_lo, res.act_hi)
            a, b = lo[ok][:, :, i], hi[ok][:, :, i]
            a = np.where(np.isfinite(a), a, np.nan)
            b = np.where(np.isfinite(b), b, np.nan)
            with np.errstate(all="ignore"):
                cur = (np.nanmin(a, axis=0), np.nanmax(b, axis=0))
            if name in tubes[r]:
                old = tubes[r][name]
                cur = (np.fmin(old[0], cur[0]), np.fmax(old[1], cur[1]))
            tubes[r][name] = cur


def _signals_of(node: Any, signals: dict) -> list[str]:
    import stl.ast as A

    found: list[str] = []

    def walk(n: Any) -> None:
        while isinstance(n, A.ReqRef):
            n = n.formula
        if isinstance(n, A.SignalRef) and n.name in signals and n.name not in found:
            found.append(n.name)
        for c in n.children():
            walk(c)

    walk(node)
    return found


def _replays(binding: Any, policy: Any, spec: Any, reqs: list, lo: np.ndarray, hi: np.ndarray, status: np.ndarray,
             vol: np.ndarray, searched: list[int], config: ReachConfig, replay: Callable | None) -> list[list]:
    """Replay the centres of refuted cells, then of the largest unknown ones, in the env."""
    out: list[list] = [[] for _ in reqs]
    candidates = np.flatnonzero((status != 1).any(axis=0))
    if not len(candidates) or not config.replays:
        return out
    order = candidates[np.lexsort((-vol[candidates], -(status[:, candidates] == -1).any(axis=0).astype(int)))]
    order = order[: config.replays]
    centres = (lo[order] + hi[order]) / 2
    names = [binding.space[k].name for k in range(len(binding.space))]
    state_names = list(dynamics_of(binding).state_names)
    points = [{n: float(c[state_names.index(n)]) for n in names} for c in centres]
    scores = (replay or _replay_default(policy, spec, binding, config.horizon))(points, [r.name for r in reqs])
    for j, (cell, point, score) in enumerate(zip(order, points, scores)):
        for r, req in enumerate(reqs):
            if score[req.name] < 0:
                kind = "refuted" if status[r, cell] == -1 else "unknown"
                out[r].append(Counterexample(point, float(score[req.name]), kind))
    return out


def _replay_default(policy: Any, spec: Any, binding: Any, horizon: int) -> Callable:
    def run(points: list[dict], names: list[str]) -> list[dict[str, float]]:
        import dataclasses

        from sanp.falsify import score
        from sanp.rollout import run_batch
        from sanp.runtime import deployed

        b = dataclasses.replace(binding, horizon=horizon)
        full = [b.point([p[d.name] for d in b.space]) for p in points]
        trajs = run_batch(deployed(policy), b, full)
        return [score(spec, names, t) for t in trajs]

    return run


__all__ = ["ReachConfig", "ReachError", "ReachResult", "RequirementResult", "prove_closed_loop"]
