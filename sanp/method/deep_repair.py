"""The deep recipe's repair of one round: fine-tune the surviving weights first (keeps
the sparsity); when that does not fix every counterexample of the round with the mean
reward at the cutoff and the safety screen passed, back off to a less sparse level of
the schedule or restore dense weights as the paper does: of the candidates that keep
the reward at the cutoff and pass the screen, the one that leaves the fewest
counterexamples unfixed, then the sparsest.

`finetune_repair` fine-tunes only the surviving weights of a sparse policy on the
recovery states and the states of the counterexample trajectories (plus anchor states
that keep its behaviour elsewhere), and reruns every counterexample to say which are
fixed; `backoff` finds the level of the schedule to fall back to; `deep_repair` chooses.

Example:
    >>> fix, used = deep_repair(sparse, dense, binding, spec, states, anchors, 195.0, config)
    >>> used, fix.policy.sparsity()
    ('finetune', 0.98...)
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sanp import seeds
from sanp.envs import Binding
from sanp.method.config import PruneConfig
from sanp.method.deep import Log, mean_reward
from sanp.method.finetune import FinetuneConfig, finetune
from sanp.method.recover import RecoveryState, safe_on
from sanp.method.repair import Repair, repair
from sanp.method.screen import Screen, describe


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
    """The run's seed: its seed tree (`sanp.seeds`) gives the fine-tunes' and the reward's streams."""


@dataclass(frozen=True)
class RepairInfo:
    """What `finetune_repair` did."""

    iterations: int
    fixed_per_iteration: tuple[int, ...]
    """Counterexamples fixed after each fine-tune (before any: index 0)."""
    sparsity: float
    mean_reward: float | None
    """Mean reward of the returned policy (on the episodes of the run's `reward` stream)."""


def _rerun(policy: Any, binding: Binding, spec: Any, cexs: Sequence[Any]) -> tuple[list[bool], list[Any]]:
    return safe_on(policy, binding, spec, [c.point for c in cexs])


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
        ft = replace(config.finetune, seed=seeds.integer(config.seed, f"repair.finetune.{it}"))
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


def deep_repair(sparse: Any, dense: Any, binding: Binding, spec: Any, states: Sequence[RecoveryState],
                anchors: np.ndarray | None, threshold: float, config: PruneConfig,
                say: Callable[[str], None] = lambda _m: None, levels: Sequence[Any] = (),
                screen: Screen | None = None) -> tuple[Repair, str]:
    """The round's repair and which one it was.

    Every repair must pass the gate a level of the schedule passed: the mean reward over
    the run's episodes at `threshold`, and `screen` (when given) on which it may not
    violate the spec significantly more often than the dense policy. Fixing a round's
    counterexamples is not enough: measured on the RL Zoo TRPO lander, a restoration
    that fixed all 12 of round 1 (where the fine-tune fixed 11 at 98.5% sparsity) was
    followed by 50 counterexamples in round 2.

    "finetune": the surviving weights fine-tuned until every counterexample of `states`
    is fixed; masks unchanged. When that fails the gate or leaves some unfixed, the
    candidates are the partial fine-tune itself ("finetune", when it fixed some),
    "backoff" (the level of the schedule's `levels` below the current sparsity that
    leaves the fewest counterexamples unsafe, the sparsest on ties; the levels passed
    the gate when the schedule adopted them, on the same episodes and screen), "restore"
    (the paper's restoration from `sparse`) and "finetune+restore" (restoration from the
    fine-tuned policy). Of those passing the gate, the one leaving the fewest
    counterexamples unfixed wins, then the sparsest. When none passes, the round's
    policy stays as it was ("none").

    After a fine-tune, "p = 1" restores the dense values of the pruned weights only; the
    kept weights stay fine-tuned, so a counterexample can stay unfixed at p = 1 where the
    paper's restoration (which reaches the dense network) would fix it. Dense values
    beside fine-tuned ones can make an incoherent network (measured on LunarLander: p = 1
    fixed none of 12 counterexamples, and the p = 0.001 then chosen violated all 230
    uniform points of the next round); the gate rejects such mixes.
    """
    cexs = [s.counterexample for s in states]
    rc = RepairConfig(finetune=config.deep.finetune, episodes=config.episodes, seed=config.seed)
    tuned, fixed, info = finetune_repair(sparse, dense, binding, spec, cexs, states, anchor_states=anchors,
                                         config=rc, log=say)

    def gate(name: str, fix: Repair, reward: float | None) -> bool:
        if reward is None:
            reward = mean_reward(fix.policy, binding, config.episodes, config.seed)
        if reward < threshold:
            say(f"{name} ({len(fix.unfixed)} unfixed, sparsity {fix.policy.sparsity():.2%}) drops the mean "
                f"reward to {reward:.2f}; not used")
            return False
        if screen is not None and not (chk := screen.check(fix.policy)).passed:
            say(f"{name} ({len(fix.unfixed)} unfixed, sparsity {fix.policy.sparsity():.2%}) fails the safety "
                f"{describe(chk)}; not used")
            return False
        return True

    # finetune_repair returns its input when no fine-tune fixed more than before.
    improved = sum(fixed) > info.fixed_per_iteration[0]
    mine = _masks_kept(tuned, cexs, fixed)
    candidates = []
    if (all(fixed) or improved) and gate("finetune", mine, info.mean_reward):
        if all(fixed):
            return mine, "finetune"
        candidates.append((mine, "finetune"))
    say(f"finetune repair fixed {sum(fixed)} of {len(cexs)}; trying the schedule's levels and restoration")
    back = backoff(sparse, levels, binding, spec, cexs)
    if back is not None:
        candidates.append((back, "backoff"))
    for name, start in [("restore", sparse)] + ([("finetune+restore", tuned)] if improved else []):
        fix = repair(start, dense, binding, spec, states, resolution=config.resolution)
        if gate(name, fix, None):
            candidates.append((fix, name))
    if not candidates:
        say(f"no repair passes the gate (reward at the cutoff {threshold:g}, the safety screen); "
            "the policy stays as it was")
        return _masks_kept(sparse, cexs, [False] * len(cexs)), "none"
    return min(candidates, key=lambda c: (len(c[0].unfixed), -c[0].policy.sparsity()))


def backoff(sparse: Any, levels: Sequence[Any], binding: Binding, spec: Any,
            cexs: Sequence[Any]) -> Repair | None:
    """The level of `levels` below `sparse`'s sparsity on which the fewest of `cexs`,
    rerun from their points, are unsafe (the sparsest on ties; None if no level is
    below), as a Repair whose `restored` counts the weights it keeps that `sparse` prunes
    and whose `unfixed` are the counterexamples still unsafe on it. Every level is rerun
    (one batch each): nothing assumes that safety grows as sparsity falls."""
    best = None
    for level in sorted((lv for lv in levels if lv.sparsity() < sparse.sparsity()), key=lambda lv: -lv.sparsity()):
        safe, _ = _rerun(level, binding, spec, cexs)
        if best is None or sum(safe) > sum(best[1]):
            best = (level, safe)
        if all(safe):
            break  # the sparser levels were tried first
    if best is None:
        return None
    level, safe = best
    gained = tuple(int(((lm > 0) & (sm == 0)).sum()) for lm, sm in zip(level.masks, sparse.masks))
    pruned = sum(int((sm == 0).sum()) for sm in sparse.masks)
    return Repair(level, sum(gained) / max(pruned, 1), gained, *_split(cexs, safe), ())


def _split(cexs: Sequence[Any], ok: Sequence[bool]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """(fixed, unfixed) counterexamples."""
    return tuple(c for c, k in zip(cexs, ok) if k), tuple(c for c, k in zip(cexs, ok) if not k)


def _masks_kept(policy: Any, cexs: Sequence[Any], ok: Sequence[bool]) -> Repair:
    """`policy` as a repair that restored no weight, with `cexs` split by `ok`."""
    return Repair(policy, 0.0, tuple(0 for _ in policy.linears), *_split(cexs, ok), ())
