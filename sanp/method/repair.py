"""Steps 4-5 of the method (the paper's restoration): gradient-guided restoration of
pruned weights until every counterexample is corrected.

Example:
    >>> states = find_recovery_states(dense, binding, spec, cexs, 195.0)
    >>> fix = repair(sparse, dense, binding, spec, states)
    >>> fix.p, fix.policy.sparsity()
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sanp.envs import Binding
from sanp.falsify import Counterexample
from sanp.method.recover import RecoveryState, safe_on


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
    """Counterexamples the repair leaves unsafe: for restoration, those that even p = 1
    (every pruned weight restored) leaves unsafe."""
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
    """
    usable = [s for s in states if s.step is not None]
    cexs = [s.counterexample for s in states] + list(also_check)
    if not usable:
        return Repair(sparse, 0.0, tuple(0 for _ in sparse.linears), (), tuple(cexs), ())
    grads = gradient_scores(sparse, dense, np.stack([s.obs for s in usable]))
    trials: list[tuple[float, int]] = []

    def unsafe(p: float) -> tuple[list[bool], Any, list[int]]:
        pol, counts = restore(sparse, dense, grads, p)
        bad = [not ok for ok in safe_on(pol, binding, spec, [c.point for c in cexs])[0]]
        trials.append((p, sum(bad)))
        if on_trial:
            on_trial(p, sum(bad))
        return bad, pol, counts

    bad_all, pol_all, counts_all = unsafe(1.0)
    keep = [not b for b in bad_all]

    def passes(p: float) -> tuple[bool, Any]:
        bad, pol, counts = unsafe(p)
        return not any(b for b, k in zip(bad, keep) if k), (pol, counts)

    p, (pol, counts) = smallest_passing(passes, resolution, at_one=(pol_all, counts_all))
    return Repair(pol, p, tuple(counts),
                  tuple(c for c, k in zip(cexs, keep) if k), tuple(c for c, k in zip(cexs, keep) if not k),
                  tuple(trials))


def smallest_passing(passes: Callable[[float], tuple[bool, Any]], resolution: float,
                     at_one: Any) -> tuple[float, Any]:
    """The first passing p from below, and what `passes` returned with it (`at_one`
    stands for p = 1, known to pass).

    p grows by doubling from `resolution` until the check passes, then bisects between
    the last failing and the first passing value. The bisection takes the check to
    fail everywhere below the first passing doubling and to pass from some p up; that
    need not hold (restoring a weight can break what a smaller restoration fixed), so
    the result is a passing p, the smallest on the path searched, not necessarily the
    smallest passing p overall.
    """
    lo, hi, best = 0.0, 1.0, at_one
    p = resolution
    while p < 1.0:
        ok, got = passes(p)
        if ok:
            hi, best = p, got
            break
        lo, p = p, min(1.0, 2 * p)
    while hi - lo > resolution:
        mid = round((lo + hi) / 2 / resolution) * resolution
        if mid <= lo or mid >= hi:
            break
        ok, got = passes(mid)
        if ok:
            hi, best = mid, got
        else:
            lo = mid
    return hi, best
