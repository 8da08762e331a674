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

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from sanp.envs import Binding
from sanp.falsify import Counterexample, score
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
    """Walk back from the last state of each counterexample to the latest state the
    dense policy recovers from, `chunk` candidate states run together.

    Where the env restores states exactly (CartPole) every state is tried, latest first.
    Where restoring means replaying the prefix (Box2D), trying every state of a
    1000-step episode costs hours, so the walk is coarse to fine: `chunk` states evenly
    spaced, then every state between the latest recoverable one and the next one tried.
    """
    out = []
    for cex in counterexamples:
        traj = cex.trajectory
        last = traj.length - 1  # the final observation has no step left to act on
        exact = traj.states is not None and binding.adapter.exact_state
        stride = 1 if exact else max(1, -(-traj.length // chunk))
        found: RecoveryState | None = None

        def latest(steps: list[int]) -> RecoveryState | None:
            continued = continue_batch(dense, binding, [(traj, i) for i in steps])
            for i, tr in sorted(zip(steps, continued), key=lambda x: -x[0]):
                if is_safe(spec, tr, threshold):
                    return RecoveryState(cex, i, traj.observations[i], tr.total_reward)
            return None

        if stride == 1:
            for end in range(last, -1, -chunk):
                found = latest(list(range(end, max(-1, end - chunk), -1)))
                if found:
                    break
        else:
            found = latest(list(range(last, -1, -stride)))
            if found:
                between = list(range(found.step + 1, min(found.step + stride, last + 1)))
                found = (latest(between) if between else None) or found
        out.append(found or RecoveryState(cex, None, None, None))
    return out


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
    resolution: float = 0.001,
    on_trial: Callable[[float, int], None] | None = None,
) -> Repair:
    """Bisection for the smallest p (to `resolution`) at which every counterexample with a
    recovery state, rerun from its search point, satisfies every requirement."""
    usable = [s for s in states if s.step is not None]
    if not usable:
        return Repair(sparse, 0.0, tuple(0 for _ in sparse.linears), (), (), ())
    obs = np.stack([s.obs for s in usable])
    grads = gradient_scores(sparse, dense, obs)
    cexs = [s.counterexample for s in usable]
    trials: list[tuple[float, int]] = []

    def unsafe(p: float) -> tuple[list[bool], Any, list[int]]:
        pol, counts = restore(sparse, dense, grads, p)
        # Checked as deployed (onnxruntime), like the falsifier that found them.
        actor = pol.to_ort() if hasattr(pol, "to_ort") else pol
        trajs = run_batch(actor, binding, [c.point for c in cexs])
        bad = [not is_safe(spec, t) for t in trajs]
        trials.append((p, sum(bad)))
        if on_trial:
            on_trial(p, sum(bad))
        return bad, pol, counts

    bad_all, pol_all, counts_all = unsafe(1.0)
    targets = [c for c, b in zip(cexs, bad_all) if not b]
    unfixed = tuple(c for c, b in zip(cexs, bad_all) if b)
    keep = [not b for b in bad_all]

    def fails(bad: list[bool]) -> bool:
        return any(b for b, k in zip(bad, keep) if k)

    lo, hi, best = 0.0, 1.0, (pol_all, counts_all)
    while hi - lo > resolution:
        mid = round((lo + hi) / 2 / resolution) * resolution
        if mid <= lo or mid >= hi:
            break
        bad, pol, counts = unsafe(mid)
        if fails(bad):
            lo = mid
        else:
            hi, best = mid, (pol, counts)
    return Repair(best[0], hi, tuple(best[1]), tuple(targets), unfixed, tuple(trials))
