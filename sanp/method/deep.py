"""The "deep" recipe: gradual pruning with sparse distillation after every step, in
place of the paper's one-shot step 1, and a repair that keeps the sparsity.

`deep_compress` raises the sparsity in steps (each step removes a fraction of the
weights still kept, lowest importance first, one global threshold), fine-tunes the
surviving weights on states labelled by the dense policy after each step, and keeps
the sparsest policy whose mean reward reaches the spec's cutoff. The training states
are aggregated DAgger-style: states the dense policy visits, then, after every step,
states the current sparse policy visits (from the env's own initial distribution and
from uniform points of the spec's search space), so the student learns what the
teacher would do where the student drifts. A step whose reward misses the cutoff gets
`retries` more rounds of collect-and-fine-tune; if it still fails, the schedule goes
back to the last passing policy and tries half the step. Reward need not fall
monotonically with sparsity, so nothing here assumes it: every level is evaluated.

`finetune_repair` fine-tunes only the surviving weights of a sparse policy on the
recovery states and the states of the counterexample trajectories (plus anchor states
that keep its behaviour elsewhere), and reruns every counterexample to say which are
fixed.

Seeds: reward estimates use the env's reset seeds `seed .. seed+episodes-1` (as the
paper's step 1 does); state collection uses seeds from `COLLECT_SEED` up, which no
reward estimate or held-out check uses.

Example:
    >>> result = deep_compress(dense, bind(spec), spec, DeepConfig(seed=0))
    >>> result.policy.sparsity(), result.mean_reward
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from sanp.envs import Binding
from sanp.errors import OptionError
from sanp.method.finetune import FinetuneConfig, finetune
from sanp.runtime import deployed
from sanp.method.step1 import SparsitySearch, SparsityStep, importance
from sanp.method.recover import is_safe
from sanp.rollout import run_batch, run_episodes

COLLECT_SEED = 20_000_000
"""First reset seed of the states collected for training (never a reward-estimate seed)."""

Log = Callable[[str], None]


# ------------------------------------------------------------------------- the guard


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


# ---------------------------------------------------------------------- the schedule


@dataclass(frozen=True)
class DeepConfig:
    """Settings of the gradual schedule."""

    episodes: int = 100
    """Episodes per mean-reward estimate (reset seeds seed .. seed+episodes-1)."""
    seed: int = 0
    criterion: Literal["magnitude", "activation"] = "activation"
    """Importance of a weight: |w|, or |w| times the mean |input| over buffered states."""
    step: float = 0.5
    """Fraction of the kept weights each step removes."""
    min_step: float = 0.1
    """After failures the step halves; below this the schedule stops."""
    retries: int = 1
    """Extra collect-and-fine-tune rounds at a level that misses the cutoff."""
    max_sparsity: float = 0.999
    collect_episodes: int = 10
    """Episodes of the env's own initial distribution collected per DAgger round."""
    collect_points: int = 10
    """Episodes from uniform points of the spec's search space per DAgger round."""
    max_states: int = 200_000
    """Training buffer size; beyond it a uniform random subset is kept."""
    finetune: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(steps=500, lr=3e-3))
    time_limit: float | None = None
    """Seconds; the schedule stops (keeping the best passing policy) when exceeded."""
    inputs: tuple[int, ...] | None = None
    """Inputs the path guard keeps connected (None: every input the dense policy reads)."""

    def __post_init__(self) -> None:
        if self.episodes <= 0 or not 0 < self.min_step <= self.step < 1 or self.retries < 0:
            raise OptionError("deep recipe needs episodes > 0, 0 < min_step <= step < 1, retries >= 0")
        if not 0 < self.max_sparsity < 1:
            raise OptionError(f"max_sparsity must be in (0, 1), got {self.max_sparsity}")


@dataclass(frozen=True)
class ScheduleStep:
    """One evaluated level of the schedule."""

    target: float
    """Sparsity asked for (the path guard may keep a few more weights)."""
    sparsity: float
    mean_reward: float
    accepted: bool
    attempt: int
    """0 for the first fine-tune at this level, then one per retry."""
    loss_before: float
    loss_after: float
    states: int
    """Training states used."""
    seconds: float


@dataclass(frozen=True, eq=False)
class DeepResult:
    """Result of `deep_compress`: the sparsest passing policy and the schedule's log."""

    policy: Any
    sparsity: float
    mean_reward: float
    dense_reward: float
    threshold: float
    history: tuple[ScheduleStep, ...]
    states: np.ndarray = field(repr=False)
    """The aggregated training states (dense- and sparse-visited): anchors for repair."""
    times: dict[str, float]
    """Wall seconds: collect, finetune, evaluate, total."""
    stop: str
    """Why the schedule stopped: "step" (the step fell below min_step), "max_sparsity",
    or "time_limit"."""

    def to_search(self) -> SparsitySearch:
        """The result in the shape of the paper's step 1 (k = sparsity reached; the first
        history entry is the dense policy), for the pipeline's step-1 slot."""
        hist = [SparsityStep(0.0, 0.0, self.dense_reward, self.dense_reward >= self.threshold)]
        hist += [SparsityStep(s.target, s.sparsity, s.mean_reward, s.accepted) for s in self.history]
        return SparsitySearch(self.sparsity, self.policy, self.mean_reward, tuple(hist))


class _Buffer:
    def __init__(self, cap: int, seed: int):
        self.parts: list[np.ndarray] = []
        self.cap = cap
        self.rng = np.random.default_rng(seed)

    def add(self, states: np.ndarray) -> None:
        self.parts.append(np.asarray(states, dtype=np.float32))
        allx = self.states
        if len(allx) > self.cap:
            allx = allx[np.sort(self.rng.choice(len(allx), self.cap, replace=False))]
        self.parts = [allx]

    @property
    def states(self) -> np.ndarray:
        return np.concatenate(self.parts) if len(self.parts) > 1 else self.parts[0]


def collect(policy: Any, binding: Binding, episodes: int, points: int, seed: int) -> np.ndarray:
    """Observations `policy` visits: `episodes` from the env's own initial distribution
    (reset seeds seed, seed+1, ...) and `points` from uniform points of the search space."""
    actor = deployed(policy)
    trajs = run_episodes(actor, binding, episodes, seed) if episodes else []
    if points:
        rng = np.random.default_rng(seed)
        lo, hi = binding.bounds[:, 0], binding.bounds[:, 1]
        pts = [binding.point(x) for x in rng.uniform(lo, hi, size=(points, len(lo)))]
        trajs += run_batch(actor, binding, pts, record_states=False)
    obs = [t.observations[np.all(np.isfinite(t.observations), axis=1)] for t in trajs]
    return np.concatenate(obs)


def mean_reward(policy: Any, binding: Binding, episodes: int, seed: int) -> float:
    """Mean return over reset seeds seed .. seed+episodes-1, run as deployed (-inf if
    any episode went non-finite)."""
    trajs = run_episodes(deployed(policy), binding, episodes, seed)
    if any(t.nonfinite for t in trajs):
        return float("-inf")
    return float(np.mean([t.total_reward for t in trajs]))


def _needed_inputs(dense: Any) -> tuple[int, ...]:
    return tuple(int(i) for i in torch.nonzero(dense.effective_weights()[0].abs().sum(dim=0)).reshape(-1))


def _scores(policy: Any, criterion: str, states: np.ndarray, rng: np.random.Generator) -> list[torch.Tensor]:
    sample = states[rng.choice(len(states), min(len(states), 20_000), replace=False)]
    return importance(policy, criterion, sample if criterion == "activation" else None)


def deep_compress(dense: Any, binding: Binding, spec: Any, config: DeepConfig = DeepConfig(),
                  *, log: Log | None = None) -> DeepResult:
    """The sparsest policy the gradual schedule reaches whose mean reward over
    `config.episodes` episodes (the spec's horizon) reaches the spec's cutoff. Its
    weights are fine-tuned (not the dense values): whoever stores it must store weights,
    not masks alone. Raises OptionError when the spec has no cutoff or the dense policy
    misses it.

    Example:
        >>> res = deep_compress(dense, binding, spec, DeepConfig(seed=0, episodes=50))
        >>> step1 = res.to_search()   # drop-in for the paper's step 1
    """
    say = log or (lambda _m: None)
    if spec.reward_threshold is None:
        raise OptionError(f"{spec.source}: the spec has no reward cutoff; add a line `reward >= D`")
    threshold = float(spec.reward_threshold)
    t0 = time.perf_counter()
    times = {"collect": 0.0, "finetune": 0.0, "evaluate": 0.0}

    def timed(key: str, f: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return f(*a, **kw)
        finally:
            times[key] += time.perf_counter() - t

    n_collect = 0

    def gather(pol: Any) -> np.ndarray:
        nonlocal n_collect
        seed = COLLECT_SEED + 100_000 * config.seed + n_collect * (config.collect_episodes + config.collect_points)
        n_collect += 1
        return timed("collect", collect, pol, binding, config.collect_episodes, config.collect_points, seed)

    dense_reward = timed("evaluate", mean_reward, dense, binding, config.episodes, config.seed)
    if dense_reward < threshold:
        raise OptionError(f"the dense policy's mean reward {dense_reward:.2f} is below the spec's cutoff "
                          f"{threshold:g}: lower the cutoff or train the policy further")
    say(f"deep: dense mean reward {dense_reward:.2f}, cutoff {threshold:g}")
    inputs = config.inputs if config.inputs is not None else _needed_inputs(dense)
    rng = np.random.default_rng(config.seed)
    buf = _Buffer(config.max_states, config.seed)
    buf.add(gather(dense))
    buf.add(gather(dense))
    current, cur_r = dense.clone(), dense_reward
    best, best_r = current, cur_r
    step, history, stop = config.step, [], "step"
    while step >= config.min_step:
        if config.time_limit is not None and time.perf_counter() - t0 > config.time_limit:
            say(f"deep: time limit {config.time_limit:g} s reached")
            stop = "time_limit"
            break
        density = (1 - current.sparsity()) * (1 - step)
        if 1 - density > config.max_sparsity:
            # prune_to rounds to whole weights: within one weight of the cap is at it.
            if current.sparsity() >= config.max_sparsity - 1.0 / current.n_weights():
                stop = "max_sparsity"
                break
            density = 1 - config.max_sparsity
        cand = prune_to(current, density, _scores(current, config.criterion, buf.states, rng), inputs)
        passed = False
        for attempt in range(config.retries + 1):
            t = time.perf_counter()
            ft = replace(config.finetune, seed=config.finetune.seed + len(history))
            cand, info = timed("finetune", finetune, cand, dense, buf.states, ft)
            r = timed("evaluate", mean_reward, cand, binding, config.episodes, config.seed)
            passed = r >= threshold
            history.append(ScheduleStep(1 - density, cand.sparsity(), r, passed, attempt, info.loss_before,
                                        info.loss_after, info.states, time.perf_counter() - t))
            say(f"deep: sparsity {cand.sparsity():.2%} (step {step:.3f}, try {attempt + 1}) mean reward {r:.2f} "
                f"{'>=' if passed else '<'} {threshold:g}; loss {info.loss_before:.4g} -> {info.loss_after:.4g}")
            buf.add(gather(cand))  # DAgger: where this sparse policy goes, labelled by the dense one
            if passed:
                break
        if passed and cand.sparsity() <= current.sparsity():
            step /= 2  # the guard kept every weight this step would remove
        elif passed:
            current, cur_r = cand, r
            if cand.sparsity() > best.sparsity():
                best, best_r = cand, r
        else:
            step /= 2
    times["total"] = time.perf_counter() - t0
    say(f"deep: reached {best.sparsity():.2%} at mean reward {best_r:.2f} in {times['total']:.0f} s")
    return DeepResult(best, best.sparsity(), best_r, dense_reward, threshold, tuple(history), buf.states, times, stop)


# ------------------------------------------------------------------------ the repair


@dataclass(frozen=True)
class RepairConfig:
    """Settings of `finetune_repair`."""

    iterations: int = 4
    """Fine-tune-and-check rounds; each adds the states of the still-failing reruns."""
    finetune: FinetuneConfig = field(default_factory=lambda: FinetuneConfig(steps=500, lr=3e-3))
    shares: tuple[float, float, float] = (0.4, 0.3, 0.3)
    """Sampling mass of recovery states, counterexample-trajectory states and anchor
    states (each group's states share its mass equally)."""
    episodes: int = 100
    """Episodes of the mean-reward estimate of the returned policy (0: skip it)."""
    seed: int = 0


@dataclass(frozen=True)
class RepairInfo:
    """What `finetune_repair` did."""

    iterations: int
    fixed_per_iteration: tuple[int, ...]
    """Counterexamples fixed after each fine-tune (before any: index 0)."""
    sparsity: float
    mean_reward: float | None
    """Mean reward of the returned policy (reset seeds seed .. seed+episodes-1)."""


def _rerun(policy: Any, binding: Binding, spec: Any, cexs: Sequence[Any]) -> tuple[list[bool], list[Any]]:
    trajs = run_batch(deployed(policy), binding, [c.point for c in cexs])
    return [is_safe(spec, t) for t in trajs], trajs


def _grouped(groups: Sequence[np.ndarray], shares: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    used = [(g, s) for g, s in zip(groups, shares) if len(g) and s > 0]
    states = np.concatenate([g for g, _ in used])
    weights = np.concatenate([np.full(len(g), s / len(g)) for g, s in used])
    return states, weights


def finetune_repair(sparse: Any, dense: Any, binding: Binding, spec: Any, counterexamples: Sequence[Any],
                    recovery_states: Sequence[Any], *, anchor_states: np.ndarray | None = None,
                    config: RepairConfig = RepairConfig(), log: Log | None = None) -> tuple[Any, list[bool], RepairInfo]:
    """Repair that keeps sparsity: fine-tune only the surviving weights of `sparse` to
    match `dense` on the recovery states (`RecoveryState.obs`, those with a step), on
    every state of the counterexample trajectories, and on `anchor_states` (e.g.
    `DeepResult.states`, so behaviour elsewhere is kept); then rerun every
    counterexample from its point (as deployed, the falsifier's reset seed) and check
    every requirement. Still-failing reruns add their states and the next iteration
    fine-tunes again.

    Returns the policy that fixes the most counterexamples (the earliest on ties; the
    input policy when no fine-tune helps), `fixed[i]` for `counterexamples[i]`, and an
    info record with the returned policy's mean reward. The masks never change, so the
    sparsity is exactly the input's.

    Example:
        >>> pol, fixed, info = finetune_repair(sparse, dense, binding, spec, cexs, rec, anchor_states=res.states)
        >>> all(fixed), info.mean_reward >= spec.reward_threshold
    """
    say = log or (lambda _m: None)
    cexs = list(counterexamples)
    rec = [np.asarray(s.obs, dtype=np.float32) for s in recovery_states if s.step is not None and s.obs is not None]
    rec_states = np.stack(rec) if rec else np.zeros((0, sparse.obs_dim), np.float32)
    traj_states = [c.trajectory.observations for c in cexs if getattr(c, "trajectory", None) is not None]
    anchors = np.zeros((0, sparse.obs_dim), np.float32) if anchor_states is None else np.asarray(anchor_states, np.float32)
    fixed, trajs = _rerun(sparse, binding, spec, cexs) if cexs else ([], [])
    traj_states += [t.observations for t, ok in zip(trajs, fixed) if not ok]
    pol = sparse.clone()
    pol.apply_masks()
    best, best_fixed, counts = pol, fixed, [sum(fixed)]
    for it in range(config.iterations):
        if all(best_fixed):
            break
        tstates = np.concatenate(traj_states) if traj_states else np.zeros((0, sparse.obs_dim), np.float32)
        tstates = tstates[np.all(np.isfinite(tstates), axis=1)]
        states, weights = _grouped([rec_states, tstates, anchors], config.shares)
        ft = replace(config.finetune, seed=config.finetune.seed + it)
        pol, info = finetune(pol, dense, states, ft, weights=weights)
        fixed, trajs = _rerun(pol, binding, spec, cexs)
        counts.append(sum(fixed))
        say(f"finetune repair {it + 1}: {sum(fixed)} of {len(cexs)} fixed, loss {info.loss_before:.4g} -> "
            f"{info.loss_after:.4g}")
        traj_states += [t.observations for t, ok in zip(trajs, fixed) if not ok]
        if sum(fixed) > sum(best_fixed):
            best, best_fixed = pol, fixed
    reward = mean_reward(best, binding, config.episodes, config.seed) if config.episodes else None
    return best, list(best_fixed), RepairInfo(len(counts) - 1, tuple(counts), best.sparsity(), reward)
