"""Step 1 of the method: importance criteria, pruning masks, and the largest one-shot
sparsity whose mean reward stays above the spec's cutoff.

Masks live on the policy's Linear weights (biases are kept). Importance is the weight's
magnitude; its magnitude times the mean absolute input activation over states the dense
policy visits; or its sensitivity: the mean squared change of the raw outputs, to first
order, when that weight alone is removed (w^2 times the mean of x_j^2 times the squared
output gradient of unit i; the Gauss-Newton form of Optimal Brain Damage), which is the
rise of the deep recipe's distillation loss that removing it would cause.

Example:
    >>> scores = importance(dense, "activation", visited_states(deployed(dense), binding, 0))
    >>> found = search_sparsity(dense, scores, mean_reward_of(binding, 100, 0), 195.0, scope="global")
    >>> found.k, [s.k for s in found.scan][:3]   # the zoo CartPole policy
    (0.994, [0.0, 0.05, 0.1])
    >>> sparse = prune(dense, 0.9, scores, scope="layer")
    >>> sparse.sparsity()
    0.9
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import torch

from sanp import seeds
from sanp.envs import Binding
from sanp.errors import OptionError
from sanp.rollout import returns, run_batch
from sanp.runtime import deployed

Criterion = Literal["magnitude", "activation", "sensitivity"]
CRITERIA: tuple[str, ...] = get_args(Criterion)
Scope = Literal["layer", "global"]

MIN_KEEP = 0.01
"""Every layer keeps at least this fraction of its weights (and at least one per output
unit), so that a global threshold never empties a layer and cuts the network."""


@torch.no_grad()
def importance(policy: Any, criterion: Criterion = "magnitude", states: np.ndarray | None = None) -> list[torch.Tensor]:
    """One score tensor per Linear weight; higher means more important."""
    weights = [lin.weight.detach().abs() for lin in policy.linears]
    if criterion == "magnitude":
        return weights
    if criterion not in CRITERIA:
        raise OptionError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    if states is None or len(states) == 0:
        raise OptionError(f"the {criterion} criterion needs states visited by the dense policy")
    obs = torch.as_tensor(np.asarray(states), dtype=torch.float32)
    if criterion == "activation":
        inputs = policy.layer_inputs(obs)
        return [w * x.abs().mean(dim=0)[None, :] for w, x in zip(weights, inputs)]
    inputs, grads = policy.output_gradients(obs)
    return [w**2 * (g.T @ x**2) / len(obs) for w, g, x in zip(weights, grads, inputs)]


def masks_for(scores: Sequence[torch.Tensor], k: float, scope: Scope = "layer") -> list[torch.Tensor]:
    """0/1 masks that remove the fraction `k` of the weights with the lowest scores."""
    if not 0.0 <= k < 1.0:
        raise OptionError(f"sparsity must be in [0, 1), got {k}")
    if scope not in ("layer", "global"):
        raise OptionError(f"scope must be 'layer' or 'global', got {scope!r}")
    if scope == "layer":
        return [_keep_top(s, s.numel() - int(round(k * s.numel()))) for s in scores]
    flat = torch.cat([s.reshape(-1) for s in scores])
    n_prune = int(round(k * flat.numel()))
    if n_prune == 0:
        return [torch.ones_like(s) for s in scores]
    # Stable ordering so that ties resolve the same way on every run.
    order = torch.argsort(flat, stable=True)
    keep = torch.ones_like(flat)
    keep[order[:n_prune]] = 0.0
    masks, start = [], 0
    for s in scores:
        m = keep[start : start + s.numel()].reshape(s.shape)
        start += s.numel()
        floor = max(math.ceil(MIN_KEEP * s.numel()), s.shape[0])
        if m.sum() < floor:
            m = _keep_top(s, floor)
        masks.append(m)
    return masks


def _keep_top(scores: torch.Tensor, n_keep: int) -> torch.Tensor:
    n_keep = max(1, min(scores.numel(), n_keep))
    order = torch.argsort(scores.reshape(-1), descending=True, stable=True)
    mask = torch.zeros(scores.numel())
    mask[order[:n_keep]] = 1.0
    return mask.reshape(scores.shape)


def prune(policy: Any, k: float, scores: Sequence[torch.Tensor], scope: Scope = "layer") -> Any:
    """A copy of `policy` with the fraction `k` of its weights masked out (on top of any
    existing mask)."""
    out = policy.clone()
    masks = masks_for(scores, k, scope)
    out.set_masks([m * old for m, old in zip(masks, policy.masks)])
    return out


GRID = tuple(round(0.05 * i, 2) for i in range(1, 20)) + (0.99,)
"""The k evaluated first, with `k_max`: every 5% from 5% to 95%, and 99%."""


@dataclass(frozen=True)
class SparsityStep:
    """One k evaluated in step 1."""

    k: float
    sparsity: float
    """Fraction of the weights pruned (biases are never pruned)."""
    mean_reward: float
    passes: bool
    """The mean reward reaches the cutoff (deep recipe: and the level passes the screen)."""
    screen: Any = None
    """Deep recipe: the level on the safety screen (a `sanp.method.screen.ScreenCheck`;
    None: not screened)."""
    confirmation: Any = None
    """Deep recipe: the level on the confirmation's fresh points (a
    `sanp.method.screen.ConfirmCheck`; None: not run)."""


@dataclass(frozen=True, eq=False)
class SparsitySearch:
    """Result of step 1."""

    k: float
    policy: Any
    mean_reward: float
    scan: tuple[SparsityStep, ...]
    """Every k evaluated, in the order evaluated; the first is k = 0 (the dense policy)."""
    stop: str | None = None
    """Why the deep recipe's schedule stopped ("step", "max_sparsity", "time_limit"; see
    `DeepResult.stop`); None for the paper recipe's scan."""


def search_sparsity(
    dense: Any,
    scores: Sequence[torch.Tensor],
    mean_reward: Callable[[Any], float],
    threshold: float,
    *,
    scope: Scope = "layer",
    resolution: float = 0.001,
    k_max: float = 0.999,
    grid: Sequence[float] = GRID,
    on_step: Callable[[SparsityStep], None] | None = None,
) -> SparsitySearch:
    """The largest k (to `resolution`) whose pruned policy has `mean_reward(policy) >=
    threshold`, without assuming that the reward falls as k grows (it does not: a
    CartPole policy fails at k = 0.57-0.75 and passes at 0.80-0.99).

    Every k of `grid` and `k_max` is evaluated. Then the interval between the largest
    passing k and the next k evaluated above it is scanned in steps of 0.01, and the
    same again in steps of `resolution`. The result is the largest passing k evaluated:
    a passing k above a failing grid point and below the next is found only where the
    finer scans look, i.e. next to the largest passing k.
    """
    tried: dict[float, SparsityStep] = {}

    def trial(k: float) -> None:
        k = round(k, 6)
        if k in tried:
            return
        pol = prune(dense, k, scores, scope)
        r = float(mean_reward(pol))
        tried[k] = SparsityStep(k, pol.sparsity(), r, r >= threshold)
        if on_step:
            on_step(tried[k])

    trial(0.0)
    if not tried[0.0].passes:
        raise OptionError(
            f"the dense policy's mean reward {tried[0.0].mean_reward:.2f} is below the spec's "
            f"cutoff {threshold:g}: lower the cutoff (`reward >= ...`) or train the policy further"
        )
    for k in sorted({*grid, k_max}):
        if 0 < k <= k_max:
            trial(k)
    for step in sorted({max(0.01, resolution), resolution}, reverse=True):
        best = max(k for k, s in tried.items() if s.passes)
        above = min((k for k in tried if k > best), default=best)
        for i in range(1, round((above - best) / step)):
            trial(best + i * step)
    best = max(k for k, s in tried.items() if s.passes)
    return SparsitySearch(best, prune(dense, best, scores, scope), tried[best].mean_reward,
                          tuple(tried.values()))

def parameter_sparsity(policy: Any) -> float:
    """Pruned weights as a fraction of all parameters, biases included (sparsity() is the
    fraction of the weights alone)."""
    pruned = sum(int((m == 0).sum()) for m in policy.masks)
    total = sum(lin.weight.numel() + (lin.bias.numel() if lin.bias is not None else 0) for lin in policy.linears)
    return pruned / total


def reward_cutoff(spec: Any) -> float:
    """The spec's reward cutoff (delta, the mean reward a pruned policy must keep);
    OptionError for a spec without one."""
    if spec.reward_threshold is None:
        raise OptionError(
            f"{spec.source}: the spec has no reward cutoff; add a line `reward >= D` (the "
            "mean reward the pruned policy must keep)"
        )
    return float(spec.reward_threshold)


def mean_reward_of(binding: Binding, episodes: int, seed: int, stream: str = "reward") -> Callable[[Any], float]:
    """policy -> mean return over `episodes` episodes with reset seeds base, base+1, ...,
    base being the stream `stream` of the run seeded with `seed` (`sanp.seeds`): the same
    episodes for every policy (-inf when an episode produced NaN/inf)."""
    base = seeds.integer(seed, stream)

    def f(policy: Any) -> float:
        r = returns(deployed(policy), binding, episodes, base)
        return float(np.mean(r)) if np.all(np.isfinite(r)) else float("-inf")

    return f


def visited_states(dense_actor: Any, binding: Binding, seed: int, episodes: int = 20) -> np.ndarray:
    """Observations of `episodes` dense episodes (reset seeds from the stream `step1.states`
    of the run seeded with `seed`): the activation criterion's sample of the inputs the
    policy sees."""
    base = seeds.integer(seed, "step1.states")
    visits = run_batch(dense_actor, binding, [None] * episodes, list(range(base, base + episodes)),
                       record_states=False)
    return np.concatenate([tr.observations for tr in visits])


def fixed_sparsity(dense: Any, scores: Sequence[torch.Tensor], mean_reward: Callable[[Any], float],
                   threshold: float, k: float, scope: Scope = "layer",
                   say: Callable[[str], None] = lambda _m: None) -> SparsitySearch:
    """Step 1 with the sparsity given by the user (`--sparsity`)."""
    base = mean_reward(dense)
    pol = prune(dense, k, scores, scope)
    r = mean_reward(pol)
    scan = (SparsityStep(0.0, 0.0, base, base >= threshold), SparsityStep(k, pol.sparsity(), r, r >= threshold))
    if r < threshold:
        say(f"step 1: at the requested sparsity the mean reward {r:.2f} is below the cutoff "
            f"{threshold:g}; refinement restores weights for safety, not for reward")
    return SparsitySearch(k, pol, r, scan)
