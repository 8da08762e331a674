"""Steps 3-5 of the method: recovery states, and gradient-guided restoration of pruned
weights until every counterexample is corrected.

A recovery state of a counterexample is the latest state s_i of its trajectory from
which the dense policy takes over and yields a trajectory (the counterexample's prefix
up to s_i, then the dense continuation) that satisfies every requirement and whose
total reward reaches the spec's cutoff.

Example:
    >>> states = find_recovery_states(dense, binding, spec, result.counterexamples, 195.0)
    >>> repaired = repair(sparse, dense, binding, spec, result.counterexamples, states)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sanp.envs import Binding
from sanp.falsify import Counterexample, score
from sanp.runtime import deployed
from sanp.rollout import Trajectory, continue_batch, run_batch


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


def gradient_scores(sparse: Any, dense: Any, obs: np.ndarray) -> list[torch.Tensor]:
    """|dL/dW| for L = MSE(sparse(obs), dense(obs)), with respect to the sparse policy's
    effective weights: pruned positions get a gradient too (a masked weight's own
    gradient would be zero there)."""
    x = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
    with torch.no_grad():
        target = dense(x)
    weights = [w.clone().requires_grad_(True) for w in sparse.effective_weights()]
    loss = torch.nn.functional.mse_loss(sparse(x, weights=weights), target)
    grads = torch.autograd.grad(loss, weights)
    return [g.detach().abs() for g in grads]


def restore(sparse: Any, dense: Any, grads: Sequence[torch.Tensor], p: float) -> tuple[Any, list[int]]:
    """A copy of `sparse` in which, layer by layer, the fraction `p` of pruned weights
    with the largest gradient magnitude get their dense values back. Returns the policy
    and the number of weights restored per layer."""
    out = sparse.clone()
    masks, counts = [], []
    with torch.no_grad():
        for lin, dw, mask, g in zip(out.linears, dense.effective_weights(), out.masks, grads):
            pruned = mask == 0
            n = int(pruned.sum())
            k = int(np.ceil(p * n - 1e-9)) if n else 0
            new = mask.clone()
            if k:
                score_ = torch.where(pruned, g, torch.full_like(g, -1.0)).reshape(-1)
                idx = torch.argsort(score_, descending=True, stable=True)[:k]
                new.view(-1)[idx] = 1.0
                lin.weight.view(-1)[idx] = dw.reshape(-1)[idx]
            masks.append(new)
            counts.append(k)
    out.set_masks(masks)
    return out, counts


@dataclass(frozen=True, eq=False)
class Repair:
    """Result of steps 4-5 for one round."""

    policy: Any
    p: float
    restored: tuple[int, ...]
    """Weights restored per layer."""
    fixed: tuple[Counterexample, ...]
    unfixed: tuple[Counterexample, ...]
    """Counterexamples that even p = 1 (every pruned weight restored) leaves unsafe."""
    trials: tuple[tuple[float, int], ...]
    """(p, counterexamples still unsafe) for every p tried."""


def repair(
    sparse: Any,
    dense: Any,
    binding: Binding,
    spec: Any,
    states: Sequence[RecoveryState],
    *,
    also_check: Sequence[Counterexample] = (),
    resolution: float = 0.001,
    on_trial: Callable[[float, int], None] | None = None,
) -> Repair:
    """The smallest p (to `resolution`) at which every counterexample, rerun from its
    search point, satisfies every requirement.

    The gradient comes from the recovery states of `states` (this round's); the check
    covers their counterexamples and `also_check` (earlier rounds', which must stay
    fixed). Counterexamples that even p = 1 (the dense weights) leaves unsafe are
    returned as `unfixed` and do not block the search.

    p grows by doubling from `resolution` until the check passes, then bisects between
    the last failing and the first passing value: safety need not be monotone in p
    (restoring a weight can break what a smaller restoration fixed), and this finds the
    first passing p from below rather than one near the middle of [0, 1].
    """
    usable = [s for s in states if s.step is not None]
    cexs = [s.counterexample for s in states] + list(also_check)
    if not usable:
        return Repair(sparse, 0.0, tuple(0 for _ in sparse.linears), (), tuple(cexs), ())
    obs = np.stack([s.obs for s in usable])
    grads = gradient_scores(sparse, dense, obs)
    trials: list[tuple[float, int]] = []

    def unsafe(p: float) -> tuple[list[bool], Any, list[int]]:
        pol, counts = restore(sparse, dense, grads, p)
        # Checked as deployed (onnxruntime), like the falsifier that found them.
        trajs = run_batch(deployed(pol), binding, [c.point for c in cexs])
        bad = [not is_safe(spec, t) for t in trajs]
        trials.append((p, sum(bad)))
        if on_trial:
            on_trial(p, sum(bad))
        return bad, pol, counts

    bad_all, pol_all, counts_all = unsafe(1.0)
    keep = [not b for b in bad_all]
    targets = tuple(c for c, k in zip(cexs, keep) if k)
    unfixed = tuple(c for c, k in zip(cexs, keep) if not k)

    def passes(p: float) -> tuple[bool, Any, list[int]]:
        bad, pol, counts = unsafe(p)
        return not any(b for b, k in zip(bad, keep) if k), pol, counts

    lo, hi, best = 0.0, 1.0, (pol_all, counts_all)
    p = resolution
    while p < 1.0:
        ok, pol, counts = passes(p)
        if ok:
            hi, best = p, (pol, counts)
            break
        lo, p = p, min(1.0, 2 * p)
    while hi - lo > resolution:
        mid = round((lo + hi) / 2 / resolution) * resolution
        if mid <= lo or mid >= hi:
            break
        ok, pol, counts = passes(mid)
        if ok:
            hi, best = mid, (pol, counts)
        else:
            lo = mid
    return Repair(best[0], hi, tuple(best[1]), targets, unfixed, tuple(trials))
