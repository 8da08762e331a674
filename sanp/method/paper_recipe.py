"""The paper's recipe (Gangopadhyay, Dasgupta, Dey, AAAI 2023): one-shot pruning at the
largest k whose mean reward reaches the cutoff (or the k given), and a repair that
restores the pruned weights with the largest gradient to their dense values.

Subclass `PaperRecipe` to keep its steps and change one (see `sanp.method.recipes`).

Example:
    >>> PaperRecipe().step1_label
    'the sparsity search'
"""
from __future__ import annotations

import time
from typing import Any

from sanp.method.recipes import RepairJob, Step1Job
from sanp.method.repair import repair
from sanp.method.run_state import Progress
from sanp.method.step1 import (
    fixed_sparsity,
    importance,
    mean_reward_of,
    search_sparsity,
    visited_states,
)
from sanp.runtime import deployed


class PaperRecipe:
    """The AAAI 2023 method (`sanp prune --recipe paper`)."""

    name = "paper"
    default_criterion = "magnitude"
    step1_label = "the sparsity search"

    def check(self, config: Any) -> None:
        pass  # every option applies

    def check_inputs(self, dense: Any, spec: Any) -> None:
        pass  # any MLP: step 1 and restoration need nothing more

    def step1(self, job: Step1Job) -> Progress:
        """Importance scores, then the largest k whose mean reward reaches the cutoff (or
        the k the user gave)."""
        config, threshold, say = job.config, job.threshold, job.say
        t = time.perf_counter()
        mean_reward = mean_reward_of(job.binding, config.episodes, config.seed)
        states = (visited_states(deployed(job.dense), job.binding, config.seed)
                  if config.criterion != "magnitude" else None)
        scores = importance(job.dense, config.criterion, states)
        if config.sparsity:
            found = fixed_sparsity(job.dense, scores, mean_reward, threshold, float(config.sparsity), config.scope,
                                   say)
        else:
            found = search_sparsity(
                job.dense, scores, mean_reward, threshold, scope=config.scope, resolution=config.resolution,
                on_step=lambda s: say(
                    f"step 1: k={s.k:.3f} sparsity {s.sparsity:.2%} mean reward {s.mean_reward:.2f} "
                    f"{'>=' if s.passes else '<'} {threshold:g}"
                ),
            )
        # With no rounds asked for, the run is done after step 1.
        return Progress(found, found.policy, config.rounds == 0,
                        times={"step1_sparsity": time.perf_counter() - t})

    def before_rounds(self, run: Progress, job: Step1Job) -> None:
        pass  # restoration needs nothing from step 1 but the sparse policy

    def repair(self, job: RepairJob) -> tuple[Any, str]:
        return repair(job.sparse, job.dense, job.binding, job.spec, job.states,
                      resolution=job.config.resolution), "restore"

    def report_options(self, config: Any) -> dict[str, Any]:
        return {}
