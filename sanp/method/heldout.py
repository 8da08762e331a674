"""The held-out check: violations and reward the refinement loop never saw, measured the
same way on the dense and the sparse policy.

Example:
    >>> h = heldout(sparse, binding, spec, PruneConfig(seed=0))
    >>> h.uniform_violations, h.uniform_points
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sanp import seeds
from sanp.envs import Binding
from sanp.falsify import FalsifyConfig, falsify, score
from sanp.method.config import PruneConfig
from sanp.method.step1 import mean_reward_of
from sanp.runtime import deployed
from sanp.rollout import run_batch


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


def heldout(policy: Any, binding: Binding, spec: Any, config: PruneConfig) -> HeldOut:
    """A fresh BO run (seed never used by the loop, larger budget), uniform points from
    a separate stream, and the mean reward over `episodes` episodes with reset seeds the
    loop never used: the `heldout.*` streams of the run's seed tree (`sanp.seeds`), its
    points' reset seeds in their own namespace."""
    binding = binding.for_run(config.seed, "heldout.reset")
    actor = deployed(policy)
    bo = falsify(
        actor, binding, spec,
        FalsifyConfig(budget=config.heldout_budget, optimizer=config.optimizer,
                      seed=seeds.integer(config.seed, "heldout.falsify"), collect_all=True, bo=config.bo),
    )
    points = binding.uniform_points(config.heldout_uniform, seeds.generator(config.seed, "heldout.uniform"))
    names = list(spec.requirements)
    per_req = {n: 0 for n in names}
    violations = 0
    for start in range(0, len(points), 250):
        for traj in run_batch(actor, binding, points[start : start + 250], record_states=False):
            rob = score(spec, names, traj)
            bad = [n for n in names if not rob[n] >= 0]
            violations += bool(bad)
            for n in bad:
                per_req[n] += 1
    reward = mean_reward_of(binding, config.episodes, config.seed, "heldout.reward")(policy)
    return HeldOut(
        bo_evaluations=len(bo.evaluations),
        bo_counterexamples=len(bo.counterexamples),
        bo_min_robustness=min(e.objective for e in bo.evaluations),
        uniform_points=len(points),
        uniform_violations=violations,
        per_requirement=per_req,
        mean_reward=reward,
    )
