"""Pruning masks that keep the network connected: `path_guard` adds back the fewest weights
so that every input the policy reads keeps a path to every output, and `prune_to` prunes to
a density under that guard. Dead units are compacted away on export (`sanp.compact`), so
no per-layer floor is needed beyond these paths.

Example:
    >>> from sanp.method.step1 import importance
    >>> small = prune_to(policy, 0.01, importance(policy, "magnitude"))
    >>> [int(m.sum()) for m in small.masks]
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def path_guard(masks: Sequence[torch.Tensor], scores: Sequence[torch.Tensor], allowed: Sequence[torch.Tensor],
               inputs: Sequence[int] | None = None) -> list[torch.Tensor]:
    """Masks with at least one path of kept weights from every input in `inputs` (None:
    all) to every output; a missing path is added with the fewest weights, taken from
    `allowed` (e.g. the previous masks) where it can, highest `scores` first.

    This is the weakest guard a global threshold needs: units left without inputs or
    outputs are dead and are compacted away at export, so only input-to-output
    connectivity matters (the per-layer floor of `sanp.prune` costs CartPole 1.7% of
    sparsity). Costs are solved by a min-plus pass over the layers per input.
    """
    masks = [m.clone() for m in masks]
    n_in, n_out = masks[0].shape[1], masks[-1].shape[0]
    for i in range(n_in) if inputs is None else inputs:
        for o in range(n_out):
            costs = [_edge_cost(m, s, a) for m, s, a in zip(masks, scores, allowed)]
            path = _cheapest_path(costs, i, o)
            if path is not None:
                for layer, (out_u, in_u) in enumerate(path):
                    masks[layer][out_u, in_u] = 1.0
    return masks


def _edge_cost(mask: torch.Tensor, score: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    # 0 for a kept weight; 1 (+ < 0.5 by lower score) for an allowed one; 1000 otherwise.
    rank = torch.argsort(torch.argsort(score.reshape(-1), stable=True), stable=True).reshape(score.shape)
    tie = 0.5 * (1 - rank.float() / max(1, score.numel() - 1))
    cost = torch.where(allowed > 0, 1.0 + tie, 1000.0 + tie)
    return torch.where(mask > 0, torch.zeros_like(cost), cost)


def _cheapest_path(costs: Sequence[torch.Tensor], i: int, o: int) -> list[tuple[int, int]] | None:
    """Edges (out, in) per layer of the cheapest path from input i to output o, or None
    when a path of kept weights (cost 0) exists already."""
    dist = costs[0][:, i]
    back = []
    for c in costs[1:]:
        total = dist[None, :] + c  # [out, in]
        dist, arg = total.min(dim=1)
        back.append(arg)
    if float(dist[o]) == 0.0:
        return None
    units = [o]
    for arg in reversed(back):
        units.append(int(arg[units[-1]]))
    units.append(i)
    units.reverse()  # input, hidden..., output
    return [(units[k + 1], units[k]) for k in range(len(costs))]


def prune_to(policy: Any, density: float, scores: Sequence[torch.Tensor],
             inputs: Sequence[int] | None = None) -> Any:
    """A copy of `policy` keeping the `density` fraction of all weights with the highest
    `scores` among those it keeps now (one global threshold), then `path_guard`."""
    old = [m.clone() for m in policy.masks]
    flat = torch.cat([torch.where(m > 0, s, torch.full_like(s, -1.0)).reshape(-1) for s, m in zip(scores, old)])
    n_keep = max(1, round(density * flat.numel()))
    keep = torch.zeros_like(flat)
    keep[torch.argsort(flat, descending=True, stable=True)[:n_keep]] = 1.0
    masks, start = [], 0
    for m in old:
        masks.append(keep[start : start + m.numel()].reshape(m.shape) * m)
        start += m.numel()
    out = policy.clone()
    out.set_masks(path_guard(masks, scores, old, inputs))
    out.apply_masks()
    return out
