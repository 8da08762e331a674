"""The whole method, in order: step 1 (the deep recipe's gradual schedule, or the paper
recipe's largest one-shot sparsity), refinement rounds (falsify, recover, repair) until
the falsifier finds nothing, then the held-out check.

Example:
    >>> result = prune_and_refine(dense, binding, spec, PruneConfig(budget=50, seed=0))
    >>> result.policy.sparsity(), result.heldout_sparse
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sanp.envs import Binding
from sanp.errors import OptionError
from sanp.method.checkpoint import Checkpoint, Progress
from sanp.method.config import PruneConfig
from sanp.method.deep import ScheduleState, check_deep_inputs, deep_compress, draw_screen
from sanp.method.heldout import HeldOut, heldout
from sanp.method.rounds import Round, refine_round
from sanp.method.step1 import (
    SparsitySearch,
    fixed_sparsity,
    importance,
    mean_reward_of,
    parameter_sparsity,
    search_sparsity,
    visited_states,
)
from sanp.method.verdict import Verdict, compare, heldout_noninferiority, judge, rate_bounds
from sanp.runtime import deployed
from sanp.stats import Comparison, NonInferiority, RateBound

Log = Callable[[str], None]
PhaseHook = Callable[[int, int, str, str], None]
"""on_phase(k, n, kind, label): phase k of n begins (n as now foreseen: it drops when
refinement converges early); kind is "step1", "round" or "heldout"."""


@dataclass(frozen=True, eq=False)
class PruneResult:
    """What `prune_and_refine` returns: step 1, every round, the refined policy, the
    held-out check and the verdict."""

    config: PruneConfig
    dense_reward: float
    step1: SparsitySearch
    rounds: tuple[Round, ...]
    policy: Any
    """The refined sparse policy."""
    final_reward: float
    converged: bool
    """The last round's falsifier found no counterexample beyond the dense policy's own."""
    heldout_dense: HeldOut | None
    heldout_sparse: HeldOut | None
    times: dict[str, float]
    """Wall time per phase, seconds."""
    statistics: tuple[RateBound, ...] = ()
    """The violation-rate bound of every uniform sample (round batches, held-out points)."""
    comparison: Comparison | None = None
    """The held-out test of the sparse policy's violation rate against the dense one's."""
    verdict: Verdict | None = None
    reward_cutoff: float | None = None
    """The spec's reward cutoff, which the verdict holds the final and held-out rewards to."""
    noninferiority: NonInferiority | None = None
    """The held-out non-inferiority test at the run's margin: the verdict's statement."""

    @property
    def parameter_sparsity(self) -> float:
        """Pruned weights as a fraction of all parameters (weights and biases)."""
        return parameter_sparsity(self.policy)


def prune_and_refine(
    dense: Any,
    binding: Binding,
    spec: Any,
    config: PruneConfig = PruneConfig(),
    *,
    log: Log | None = None,
    run_heldout: bool = True,
    checkpoint: Checkpoint | None = None,
    on_phase: PhaseHook | None = None,
) -> PruneResult:
    """Steps 1-6 of the method, then the held-out check. With a `checkpoint`, the state
    is saved after every level the deep recipe's schedule tries, after step 1 and after
    every round, and a saved state is resumed from. `on_phase` is told when each phase
    (step 1, a round, a held-out check) begins."""
    say = log or (lambda _msg: None)

    def phase(k: int, rounds: int, kind: str, label: str) -> None:
        if on_phase:
            on_phase(k, 1 + rounds + (2 if run_heldout else 1), kind, label)

    threshold = _cutoff(spec, dense, config)
    mean_reward = mean_reward_of(binding, config.episodes, config.seed)
    dense_actor = deployed(dense)
    run, partial = _resumed(checkpoint, dense, binding, say)
    if not run:
        phase(1, config.rounds, "step1", "step 1, " + ("the deep schedule" if config.recipe == "deep"
                                                      else "the sparsity search"))
        run = (deep_step1(dense, binding, spec, config, say, resume=partial,
                          on_level=checkpoint.save_schedule if checkpoint else None)
               if config.recipe == "deep"
               else step1(dense, dense_actor, binding, threshold, mean_reward, config, say))
        if checkpoint:
            checkpoint.save(run)
    say(f"step 1 done: sparsity {run.step1.policy.sparsity():.2%}, mean reward {run.step1.mean_reward:.2f}")
    if config.recipe == "deep" and run.screen is None:  # a resumed run: the checkpoint keeps no screen
        run.screen = draw_screen(dense, binding, spec, config.deep_settings())
    for index in range(len(run.rounds) + 1, config.rounds + 1):
        if run.converged:
            break
        phase(1 + index, config.rounds, "round", f"refinement round {index} of at most {config.rounds}")
        outcome = refine_round(index, run.sparse, dense, dense_actor, binding, spec, threshold, config,
                               run.times, say, anchors=run.anchors, levels=run.levels, screen=run.screen)
        run.rounds.append(outcome.round)
        run.seen.extend(outcome.recovery)
        run.sparse, run.converged = outcome.policy, outcome.round.clean
        if checkpoint:
            checkpoint.save(run)

    done = len(run.rounds)
    phase(2 + done, done, "heldout", "the refined policy's mean reward, held-out check on the dense policy"
          if run_heldout else "the refined policy's mean reward")
    t = time.perf_counter()
    final_reward = mean_reward(run.sparse)
    run.times["final_reward"] = time.perf_counter() - t
    hd = hs = None
    if run_heldout:
        t = time.perf_counter()
        say("held-out check on the dense policy")
        hd = heldout(dense, binding, spec, config)
        phase(3 + done, done, "heldout", "held-out check on the sparse policy")
        say("held-out check on the sparse policy")
        hs = heldout(run.sparse, binding, spec, config)
        run.times["heldout"] = time.perf_counter() - t
    result = PruneResult(config, run.step1.scan[0].mean_reward, run.step1, tuple(run.rounds), run.sparse,
                         final_reward, run.converged, hd, hs, run.times,
                         rate_bounds(run.rounds, hd, hs, config.confidence), compare(hd, hs, config.confidence),
                         reward_cutoff=threshold, noninferiority=heldout_noninferiority(hd, hs, config))
    return replace(result, verdict=judge(result))


def step1(dense: Any, dense_actor: Any, binding: Binding, threshold: float,
          mean_reward: Callable[[Any], float], config: PruneConfig, say: Log) -> Progress:
    """Step 1: importance scores, then the largest k whose mean reward reaches the cutoff
    (or the k the user gave)."""
    t = time.perf_counter()
    states = visited_states(dense_actor, binding, config.seed) if config.criterion != "magnitude" else None
    scores = importance(dense, config.criterion, states)
    if config.sparsity:
        found = fixed_sparsity(dense, scores, mean_reward, threshold, float(config.sparsity), config.scope, say)
    else:
        found = search_sparsity(
            dense, scores, mean_reward, threshold, scope=config.scope, resolution=config.resolution,
            on_step=lambda s: say(
                f"step 1: k={s.k:.3f} sparsity {s.sparsity:.2%} mean reward {s.mean_reward:.2f} "
                f"{'>=' if s.passes else '<'} {threshold:g}"
            ),
        )
    # With no rounds asked for, the run is done after step 1.
    return Progress(found, found.policy, config.rounds == 0, times={"step1_sparsity": time.perf_counter() - t})


def deep_step1(dense: Any, binding: Binding, spec: Any, config: PruneConfig, say: Log,
               resume: ScheduleState | None = None,
               on_level: Callable[[ScheduleState], None] | None = None) -> Progress:
    """Step 1 of the deep recipe: `deep_compress` with this run's episodes, seed,
    confidence and criterion (going on from `resume`, reporting each level tried to
    `on_level`); its training states become the anchors of every round's fine-tuning
    repair."""
    res = deep_compress(dense, binding, spec, config.deep_settings(), log=say, resume=resume, on_level=on_level)
    phases = {f"step1_deep_{k}": v for k, v in res.times.items() if k != "total"}  # collect, finetune, evaluate, screen
    return Progress(res.to_search(), res.policy, config.rounds == 0,
                    times={**phases, "step1_deep": res.times["total"]}, anchors=res.states,
                    levels=res.levels, screen=res.screen)


def _resumed(checkpoint: Checkpoint | None, dense: Any, binding: Binding, say: Log
             ) -> tuple[Progress | None, ScheduleState | None]:
    """What a checkpoint holds: the run after step 1 (and some rounds), or the deep
    schedule part way through step 1; (None, None) with nothing to resume."""
    run = checkpoint.load(dense, binding.return_bounds) if checkpoint else None
    if isinstance(run, ScheduleState):
        say(f"resuming from {checkpoint.path}: the deep schedule after {len(run.history)} level(s) tried, "
            f"{len(run.levels)} adopted")
        return None, run
    if run:
        say(f"resuming from {checkpoint.path}: step 1 and {len(run.rounds)} round(s) done")
    return run, None


def _cutoff(spec: Any, dense: Any, config: PruneConfig) -> float:
    """The spec's reward cutoff; an OptionError, before the first phase line (so that a
    refusal is one line), for a spec without one or a policy the recipe cannot prune."""
    if spec.reward_threshold is None:
        raise OptionError(
            f"{spec.source}: the spec has no reward cutoff; add a line `reward >= D` (the "
            "mean reward the pruned policy must keep)"
        )
    if config.recipe == "deep":
        check_deep_inputs(dense, spec)
    return float(spec.reward_threshold)
