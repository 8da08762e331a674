"""Step 3 of the method: the recovery state of each counterexample.

A recovery state of a counterexample is the latest state s_i of its trajectory from
which the dense policy takes over and yields a trajectory (the counterexample's prefix
up to s_i, then the dense continuation) that satisfies every requirement and whose
total reward reaches the spec's cutoff.

Example:
    >>> states = find_recovery_states(dense, binding, spec, result.counterexamples, 195.0)
    >>> [s.step for s in states]
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sanp.envs import Binding
from sanp.falsify import Counterexample, score
from sanp.rollout import Trajectory, continue_batch, run_batch
from sanp.runtime import deployed


@dataclass(frozen=True, eq=False)
class RecoveryState:
    """Where the dense policy can take over a counterexample (step is None: nowhere)."""

    counterexample: Counterexample
    step: int | None
    obs: np.ndarray | None
    total_reward: float | None
    """Reward of the prefix plus the dense continuation."""


def is_safe(spec: Any, traj: Trajectory, threshold: float | None = None) -> bool:
    """Every requirement has non-negative robustness (and the reward reaches `threshold`)."""
    rob = score(spec, list(spec.requirements), traj)
    ok = all(r >= 0 for r in rob.values())
    return ok and (threshold is None or traj.total_reward >= threshold)


def safe_on(policy: Any, binding: Binding, spec: Any, points: Sequence[Any], *,
            record_states: bool = True) -> tuple[list[bool], list[Trajectory]]:
    """Run `policy` as deployed (onnxruntime, like the falsifier) from each point, all
    together: per point, is every requirement met, and the trajectories."""
    trajs = run_batch(deployed(policy), binding, list(points), record_states=record_states)
    return [is_safe(spec, t) for t in trajs], trajs


def find_recovery_states(
    dense: Any,
    binding: Binding,
    spec: Any,
    counterexamples: Sequence[Counterexample],
    threshold: float,
    *,
    chunk: int = 32,
) -> list[RecoveryState]:
    """The latest state of each counterexample from which the dense policy recovers.

    Where the env restores states exactly (CartPole) every state is tried, walking back
    from the last one, `chunk` states run together: exactly the paper's definition.
    Where restoring means replaying the prefix (Box2D), trying every state of a
    1000-step episode for hundreds of counterexamples costs hours, so the step is found
    by bisection, all counterexamples together: state 0 must be recoverable, the last
    state is not, and recoverability is taken to hold up to some step and not after it.
    """
    exact = [c.trajectory.states is not None and binding.adapter.exact_state for c in counterexamples]
    out: dict[int, RecoveryState] = {}
    walk = [i for i, e in enumerate(exact) if e]
    for i in walk:
        out[i] = _walk_back(dense, binding, spec, counterexamples[i], threshold, chunk)
    bisect = [i for i, e in enumerate(exact) if not e]
    if bisect:
        found = _bisect(dense, binding, spec, [counterexamples[i] for i in bisect], threshold)
        out.update(zip(bisect, found))
    return [out[i] for i in range(len(counterexamples))]


def _recovers(dense: Any, binding: Binding, spec: Any, starts: list[tuple[Trajectory, int]],
              threshold: float) -> list[tuple[bool, Trajectory]]:
    continued = continue_batch(dense, binding, starts)
    return [(is_safe(spec, tr, threshold), tr) for tr in continued]


def _walk_back(dense: Any, binding: Binding, spec: Any, cex: Counterexample, threshold: float,
               chunk: int) -> RecoveryState:
    traj = cex.trajectory
    # The final observation has no step left to act on: start one before it.
    for end in range(traj.length - 1, -1, -chunk):
        steps = list(range(end, max(-1, end - chunk), -1))
        for i, (ok, tr) in zip(steps, _recovers(dense, binding, spec, [(traj, i) for i in steps], threshold)):
            if ok:
                return RecoveryState(cex, i, traj.observations[i], tr.total_reward)
    return RecoveryState(cex, None, None, None)


def _bisect(dense: Any, binding: Binding, spec: Any, cexs: list[Counterexample],
            threshold: float) -> list[RecoveryState]:
    n = len(cexs)
    first = _recovers(dense, binding, spec, [(c.trajectory, 0) for c in cexs], threshold)
    lo = [0] * n
    hi = [c.trajectory.length for c in cexs]
    best = [tr.total_reward if ok else None for ok, tr in first]
    active = [i for i in range(n) if first[i][0]]
    while True:
        active = [i for i in active if hi[i] - lo[i] > 1]
        if not active:
            break
        mids = {i: (lo[i] + hi[i]) // 2 for i in active}
        res = _recovers(dense, binding, spec, [(cexs[i].trajectory, mids[i]) for i in active], threshold)
        for i, (ok, tr) in zip(active, res):
            if ok:
                lo[i], best[i] = mids[i], tr.total_reward
            else:
                hi[i] = mids[i]
    return [
        RecoveryState(c, lo[i], c.trajectory.observations[lo[i]], best[i]) if best[i] is not None
        else RecoveryState(c, None, None, None)
        for i, c in enumerate(cexs)
    ]
