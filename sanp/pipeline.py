"""The whole method (steps 1-6) and the held-out check: from a dense policy and a spec
to a sparse policy that keeps its reward and on which the falsifier finds nothing.

Example:
    >>> result = prune_and_refine(dense, binding, spec, PruneConfig(budget=50, seed=0))
    >>> result.policy.sparsity(), result.heldout
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal

import numpy as np

from sanp.envs import Binding
from sanp.errors import OptionError
from sanp.falsify import BOConfig, Counterexample, FalsifyConfig, FalsifyResult, falsify, merge, score
from sanp.prune import SparsitySearch, importance, search_sparsity
from sanp.refine import RecoveryState, Repair, find_recovery_states, repair
from sanp.rollout import returns, run_batch


@dataclass(frozen=True)
class PruneConfig:
    """Settings of `sanp prune`."""

    criterion: Literal["magnitude", "activation"] = "magnitude"
    """Weight importance: |w|, or |w| times the mean |input| over dense-visited states."""
    scope: Literal["layer", "global"] = "global"
    """Prune the same fraction of every layer, or by one threshold over all layers."""
    episodes: int = 100
    """Episodes per mean-reward estimate."""
    resolution: float = 0.001
    """Resolution of the sparsity (k) and restoration (p) bisections."""
    budget: int = 100
    """Falsifier rollouts per refinement round."""
    rounds: int = 5
    """Round limit of the falsify-recover-repair loop."""
    round_uniform: int = 1000
    """Uniformly drawn points run (as one batch) beside BO in every round: cheap, and it
    catches small failure regions a GP smooths over."""
    heldout_budget: int = 200
    """Rollouts of the held-out BO run (another seed), on the dense and the sparse policy."""
    heldout_uniform: int = 1000
    """Uniformly drawn held-out points, on both policies."""
    seed: int = 0
    bo: BOConfig = field(default_factory=BOConfig)

    def __post_init__(self) -> None:
        for name in ("episodes", "budget", "heldout_budget"):
            if getattr(self, name) <= 0:
                raise OptionError(f"{name} must be positive, got {getattr(self, name)}")
        if self.rounds < 0 or self.heldout_uniform < 0:
            raise OptionError("rounds and heldout_uniform must be >= 0")
        if not 0 < self.resolution < 0.5:
            raise OptionError(f"resolution must be in (0, 0.5), got {self.resolution}")


@dataclass(frozen=True, eq=False)
class Round:
    """One falsify -> recover -> repair round."""

    index: int
    seed: int
    falsification: FalsifyResult
    uniform: FalsifyResult | None
    counterexamples: tuple[Counterexample, ...]
    """Merged counterexamples of both searches."""
    recovered: int
    """Counterexamples with a recovery state."""
    unrecoverable: int
    repair: Repair | None
    sparsity: float
    """Sparsity after the round's repair."""


@dataclass(frozen=True)
class HeldOut:
    """Violations the refinement loop never saw, for one policy."""

    bo_evaluations: int
    bo_counterexamples: int
    bo_min_robustness: float
    uniform_points: int
    uniform_violations: int
    per_requirement: dict[str, int]
    """Uniform points violating each requirement."""
    mean_reward: float


@dataclass(frozen=True, eq=False)
class PruneResult:
    config: PruneConfig
    dense_reward: float
    step1: SparsitySearch
    rounds: tuple[Round, ...]
    policy: Any
    """The refined sparse policy."""
    final_reward: float
    converged: bool
    """The last round's falsifier found no counterexample."""
    heldout_dense: HeldOut | None
    heldout_sparse: HeldOut | None
    times: dict[str, float]
    """Wall time per phase, seconds."""

    @property
    def safe_as_dense(self) -> bool:
        """Held-out violations of the sparse policy do not exceed the dense policy's."""
        if self.heldout_dense is None or self.heldout_sparse is None:
            return self.converged
        d, s = self.heldout_dense, self.heldout_sparse
        return s.uniform_violations <= d.uniform_violations and s.bo_counterexamples <= d.bo_counterexamples


Log = Callable[[str], None]


def _mean_reward(binding: Binding, episodes: int, seed: int) -> Callable[[Any], float]:
    def f(policy: Any) -> float:
        r = returns(policy, binding, episodes, seed)
        return float(np.mean(r)) if np.all(np.isfinite(r)) else float("-inf")

    return f


def heldout(policy: Any, binding: Binding, spec: Any, config: PruneConfig, *, log: Log | None = None) -> HeldOut:
    """A fresh BO run (seed never used by the loop, larger budget), uniform points from
    a separate stream, and the mean reward over `episodes` episodes."""
    seed = config.seed + 10_000_019
    bo = falsify(
        policy, binding, spec,
        FalsifyConfig(budget=config.heldout_budget, seed=seed, collect_all=True, bo=config.bo),
    )
    rng = np.random.default_rng(seed + 1)
    lo, hi = binding.bounds[:, 0], binding.bounds[:, 1]
    points = [binding.point(x) for x in rng.uniform(lo, hi, size=(config.heldout_uniform, len(lo)))]
    names = list(spec.requirements)
    per_req = {n: 0 for n in names}
    violations = 0
    for start in range(0, len(points), 250):
        for traj in run_batch(policy, binding, points[start : start + 250], record_states=False):
            rob = score(spec, names, traj)
            bad = [n for n in names if not rob[n] >= 0]
            violations += bool(bad)
            for n in bad:
                per_req[n] += 1
    reward = _mean_reward(binding, config.episodes, config.seed + 7)(policy)
    return HeldOut(
        bo_evaluations=len(bo.evaluations),
        bo_counterexamples=len(bo.counterexamples),
        bo_min_robustness=min(e.objective for e in bo.evaluations),
        uniform_points=len(points),
        uniform_violations=violations,
        per_requirement=per_req,
        mean_reward=reward,
    )


def prune_and_refine(
    dense: Any,
    binding: Binding,
    spec: Any,
    config: PruneConfig = PruneConfig(),
    *,
    log: Log | None = None,
    run_heldout: bool = True,
) -> PruneResult:
    """Steps 1-6 of the method, then the held-out check."""
    say = log or (lambda _msg: None)
    if spec.reward_threshold is None:
        raise OptionError(
            f"{spec.source}: the spec has no reward cutoff; add a line `reward >= D` (the "
            "mean reward the pruned policy must keep)"
        )
    threshold = float(spec.reward_threshold)
    times: dict[str, float] = {}
    mean_reward = _mean_reward(binding, config.episodes, config.seed)

    t = time.perf_counter()
    states = None
    if config.criterion == "activation":
        visits = run_batch(dense, binding, [None] * 20, list(range(config.seed, config.seed + 20)),
                           record_states=False)
        states = np.concatenate([tr.observations for tr in visits])
    scores = importance(dense, config.criterion, states)
    step1 = search_sparsity(
        dense, scores, mean_reward, threshold, scope=config.scope, resolution=config.resolution,
        on_step=lambda s: say(
            f"step 1: k={s.k:.3f} sparsity {s.sparsity:.2%} mean reward {s.mean_reward:.2f} "
            f"{'>=' if s.accepted else '<'} {threshold:g}"
        ),
    )
    dense_reward = step1.history[0].mean_reward
    times["step1_sparsity"] = time.perf_counter() - t
    say(f"step 1 done: sparsity {step1.policy.sparsity():.2%}, mean reward {step1.mean_reward:.2f}")

    sparse = step1.policy
    rounds: list[Round] = []
    seen: list[RecoveryState] = []
    converged = config.rounds == 0
    for r in range(config.rounds):
        seed = config.seed + 1 + r
        t = time.perf_counter()
        fals = falsify(sparse, binding, spec, FalsifyConfig(
            budget=config.budget, seed=seed, collect_all=True, bo=config.bo))
        uni = None
        if config.round_uniform:
            uni = falsify(sparse, binding, spec, FalsifyConfig(
                budget=config.round_uniform, optimizer="random", seed=seed, collect_all=True))
        cexs = tuple(merge(
            list(fals.counterexamples) + list(uni.counterexamples if uni else ()), binding,
            fals.config.merge_tol,
        ))
        times[f"round{r + 1}_falsify"] = time.perf_counter() - t
        n = len(cexs)
        say(f"round {r + 1}: {n} counterexample(s) (BO {len(fals.counterexamples)} in "
            f"{len(fals.evaluations)} rollouts, uniform {len(uni.counterexamples) if uni else 0} "
            f"in {len(uni.evaluations) if uni else 0})")
        if n == 0:
            rounds.append(Round(r + 1, seed, fals, uni, cexs, 0, 0, None, sparse.sparsity()))
            converged = True
            break
        t = time.perf_counter()
        rec = find_recovery_states(dense, binding, spec, cexs, threshold)
        times[f"round{r + 1}_recover"] = time.perf_counter() - t
        found = sum(s.step is not None for s in rec)
        say(f"round {r + 1}: recovery states for {found} of {n}")
        # Every counterexample seen so far must stay corrected, not just this round's.
        seen.extend(rec)
        t = time.perf_counter()
        fix = repair(sparse, dense, binding, spec, seen, resolution=config.resolution)
        times[f"round{r + 1}_repair"] = time.perf_counter() - t
        sparse = fix.policy
        say(
            f"round {r + 1}: restored p={fix.p:.3f} of pruned weights "
            f"({sum(fix.restored)} weights), sparsity now {sparse.sparsity():.2%}"
            + (f"; {len(fix.unfixed)} counterexample(s) not fixable" if fix.unfixed else "")
        )
        rounds.append(Round(r + 1, seed, fals, uni, cexs, found, n - found, fix, sparse.sparsity()))

    t = time.perf_counter()
    final_reward = mean_reward(sparse)
    times["final_reward"] = time.perf_counter() - t
    hd = hs = None
    if run_heldout:
        t = time.perf_counter()
        say("held-out check on the dense policy")
        hd = heldout(dense, binding, spec, config)
        say("held-out check on the sparse policy")
        hs = heldout(sparse, binding, spec, config)
        times["heldout"] = time.perf_counter() - t
    return PruneResult(
        config=config,
        dense_reward=dense_reward,
        step1=step1,
        rounds=tuple(rounds),
        policy=sparse,
        final_reward=final_reward,
        converged=converged,
        heldout_dense=hd,
        heldout_sparse=hs,
        times=times,
    )
