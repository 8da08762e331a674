"""Falsifiers: search a spec's search space for episodes that violate its requirements.

Every optimiser (a `Proposer` from `sanp.falsify.registry.PROPOSERS`) shares one loop:
it proposes points on the unit cube, the loop scales them to the search space, rolls
them out in chunks and tells it their objective. Each evaluation is one rollout that
scores every selected requirement; the objective is their minimum robustness
("joint"), or one requirement at a time ("each").

Example:
    >>> result = falsify(policy, binding, spec, FalsifyConfig(budget=50, seed=1))
    >>> [c.point for c in result.counterexamples]
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import stl
from sanp.envs import Binding
from sanp.errors import EnvError, OptionError
from sanp.falsify.config import FalsifyConfig
from sanp.falsify.registry import make
from sanp.falsify.results import Counterexample, Evaluation, FalsifyResult
from sanp.rollout import Trajectory, run_batch
from sanp.stats import upper_bound
from sanp.types import RESET_SEED, Actor, Point
from stl.critical import decision

# -------------------------------------------------------------------------- scoring


def score(spec: Any, names: Sequence[str], traj: Trajectory) -> dict[str, float]:
    """Robustness of each requirement on one trajectory; a NaN/inf episode is -inf."""
    if traj.nonfinite:
        return {n: float("-inf") for n in names}
    signals = traj.signals(spec)
    return {n: float(stl.robustness_at0(spec.requirements[n], signals)) for n in names}


def critical_step(spec: Any, name: str, traj: Trajectory) -> int:
    """The step that decides the requirement's robustness: the comparison and step its
    value comes from, inside the requirement's own windows (`stl.critical`), as the
    counterexample plots mark it."""
    if traj.nonfinite:
        return traj.length
    step = decision(spec.requirements[name], traj.signals(spec)).step
    return 0 if step is None else step


# ------------------------------------------------------------------------------ run


def falsify(
    actor: Actor,
    binding: Binding,
    spec: Any,
    config: FalsifyConfig = FalsifyConfig(),
    *,
    progress: Callable[[int, int, float], None] | None = None,
) -> FalsifyResult:
    """Search `binding`'s search space for violations of the spec's requirements.

    `progress(done, total, best_objective)` is called after every evaluation.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _falsify(actor, binding, spec, config, progress)


def _falsify(actor, binding, spec, config, progress) -> FalsifyResult:
    names = _select(spec, config.requirements)
    if not binding.space:
        from sanp.envs import registered

        dims = ", ".join(d.name for d in binding.adapter.dimensions)
        raise EnvError(
            f"env {binding.env_id} has no search space: add `search NAME in [lo, hi]` lines "
            f"to the spec (dimensions: {dims})" if dims else
            f"env {binding.env_id} has no search space: register an adapter for it "
            f"(README, 'Your own environment'); built in: {', '.join(registered())}"
        )
    targets: list[str | None] = [None] if config.mode == "joint" else list(names)
    run = _Run(actor, binding, spec, config, names, config.budget * len(targets), progress)
    for ti, target in enumerate(targets):
        if run.search(target, config.seed + 1000003 * ti):
            break
    return FalsifyResult(
        config=config,
        requirements=tuple(names),
        evaluations=tuple(run.evaluations),
        counterexamples=tuple(merge(run.found, binding, config.merge_tol)),
        wall_time=time.perf_counter() - run.t_start,
        rollout_time=run.t_roll,
        optimizer_time=run.t_opt,
    )


class _Run:
    """The evaluations of one falsify() call, searched one target at a time."""

    def __init__(self, actor, binding, spec, config, names, total, progress):
        self.actor, self.binding, self.spec, self.config = actor, binding, spec, config
        self.names, self.total, self.progress = names, total, progress
        self.t_start = time.perf_counter()
        self.evaluations: list[Evaluation] = []
        self.found: list[Counterexample] = []
        self.t_roll = self.t_opt = 0.0
        self.best = float("inf")

    def search(self, target: str | None, seed: int) -> bool:
        """One search (all requirements, or `target`); True when the whole run must stop
        (a counterexample found and not collecting all)."""
        config, binding = self.config, self.binding
        dim = len(binding.space)
        proposer = make(config.optimizer, dim, config.budget, seed, config)
        lo, hi = binding.bounds[:, 0], binding.bounds[:, 1]
        scope = self.names if target is None else (target,)
        done = bad = 0
        while done < config.budget:
            t0 = time.perf_counter()
            # Rollouts of a chunk run together; the part of a chunk past a stop is
            # discarded, so results do not depend on the chunk size.
            unit = proposer.propose(proposer.chunk(config.budget - done))
            t1 = time.perf_counter()
            points = [_seeded(binding, binding.point(lo + u * (hi - lo)), s)
                      for u, s in zip(unit, _wanted_seeds(proposer, len(unit)))]
            trajs = run_batch(self.actor, binding, points)
            self.t_opt += t1 - t0
            self.t_roll += time.perf_counter() - t1
            ys = []
            for point, traj in zip(points, trajs):
                violated = self._evaluate(point, traj, scope, target)
                ys.append(self.evaluations[-1].objective)
                done, bad = done + 1, bad + bool(violated)
                if violated and not config.collect_all:
                    return True
                if config.target_rate is not None and upper_bound(bad, done, config.confidence) <= config.target_rate:
                    return False
            if hasattr(proposer, "tell_reset_seeds"):
                proposer.tell_reset_seeds([binding.seed_of(p) for p in points[: len(ys)]])
            proposer.tell(unit[: len(ys)], np.array(ys))
        return False

    def _evaluate(self, point: Point, traj: Trajectory, scope: Sequence[str], target: str | None) -> tuple[str, ...]:
        rob = score(self.spec, self.names, traj)
        obj = min(rob[n] for n in scope)
        ev = Evaluation(len(self.evaluations), point, rob, obj, target)
        self.evaluations.append(ev)
        self.best = min(self.best, obj)
        violated = tuple(n for n in scope if not rob[n] >= 0)
        if violated:
            worst = min(violated, key=lambda n: rob[n])
            self.found.append(Counterexample(point, violated, rob, rob[worst],
                                             critical_step(self.spec, worst, traj), traj, ev.index))
        if self.progress:
            self.progress(len(self.evaluations), self.total, self.best)
        return violated


def _wanted_seeds(proposer: Any, n: int) -> list[int | None]:
    """The reset seeds a proposer that searches them chose for its last `n` points
    (`sanp.falsify.registry.SeedSearch`); None each: the points' own."""
    if not hasattr(proposer, "reset_seeds"):
        return [None] * n
    seeds = list(proposer.reset_seeds())
    if len(seeds) != n:
        raise OptionError(f"optimizer {type(proposer).__name__} gave {len(seeds)} reset seeds for {n} points; "
                          "its reset_seeds() must return one per proposed point (None: the point's own)")
    return seeds


def _seeded(binding: Binding, point: Point, seed: int | None) -> Point:
    """`point` with the reset seed the proposer chose, recorded in the point itself (so its
    evaluation, counterexample and report replay that episode); a spec's pinned seed wins."""
    if seed is not None and binding.reset_seed is None:
        if isinstance(seed, bool) or not 0 <= int(seed) < 2**53:
            raise OptionError(f"a proposed reset seed must be an integer in [0, 2^53), got {seed!r}")
        point[RESET_SEED] = int(seed)
    return point


def _select(spec: Any, wanted: Sequence[str] | None) -> list[str]:
    import difflib

    names = list(spec.requirements)
    if not wanted:
        return names
    for w in wanted:
        if w not in spec.requirements:
            close = difflib.get_close_matches(w, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(f"spec has no requirement {w!r}{hint}; it has: {', '.join(names)}")
    return [n for n in names if n in wanted]


def merge(found: list[Counterexample], binding: Binding, tol: float = 1e-3) -> list[Counterexample]:
    """Merge near-duplicate points, keeping the most violating of each cluster."""
    span = np.maximum(binding.bounds[:, 1] - binding.bounds[:, 0], 1e-12)
    kept: list[Counterexample] = []
    for cex in sorted(found, key=lambda c: (c.min_robustness, c.evaluation)):
        x = np.array([cex.point[d.name] for d in binding.space])
        dup = any(
            np.max(np.abs(x - np.array([k.point[d.name] for d in binding.space])) / span) < tol
            for k in kept
        )
        if not dup:
            kept.append(cex)
    return sorted(kept, key=lambda c: c.evaluation)
