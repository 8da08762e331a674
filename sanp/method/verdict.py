"""What a prune run showed, in words a safety case can quote: the violation-rate bound of
every uniform sample, the dense-versus-sparse tests, and the verdict, whose first line
says plainly when the run compressed nothing, did not converge or came out worse.

The verdict is a non-inferiority statement: ok needs the held-out test to show, with the
run's confidence, that the sparse policy's violation rate is at most the dense one's plus
the margin (`sanp.stats.noninferiority`, at the held-out share of the run's error,
`sanp.method.alpha`). Where the dense policy itself violates the spec (on held-out points
or at a round's counterexamples), "as safe as the dense policy" is the only claim that can
hold: the test replaces convergence, and the held-out search's counts (no rate) are
reported only. Every sentence names the run's optimiser by its registry label
(`sanp.falsify.label`: "GP-BO", "corners + CMA-ES", ...).

Example:
    >>> v = judge(result)
    >>> v.ok, v.headline
    (True, 'compressed to 97.52% sparsity (weights; 96.90% of all parameters); ...')
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sanp.falsify import PRUNE_DEFAULT, is_uniform, label
from sanp.method.alpha import AlphaSplit
from sanp.method.heldout import HeldOut
from sanp.method.rounds import Round
from sanp.stats import (
    Comparison,
    NonInferiority,
    RateBound,
    compare_rates,
    noninferiority,
    rate_bound,
)

NEAR_ZERO = 0.01
"""A final sparsity below this (1% of the weights) counts as nothing compressed."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    """The run compressed the policy, converged (or the dense policy violates the spec too),
    the held-out test showed the sparse policy non-inferior to the dense one at the margin,
    the held-out search found no more counterexamples on it (where the dense policy violates
    nothing), and its mean reward reaches the spec's cutoff (on the held-out episodes too,
    wherever the dense policy's does). `sanp prune` exits 0 exactly when this holds."""
    headline: str
    details: tuple[str, ...]
    noninferiority: NonInferiority | None = None
    """The held-out non-inferiority test behind the verdict (None: no held-out check)."""
    alpha: AlphaSplit | None = None
    """How the run's error was split over its tests."""
    looks: int | None = None
    """The safety screen's looks, for the split's sentence (None: no screen)."""

    def to_json(self) -> dict[str, Any]:
        d = {"ok": self.ok, "headline": self.headline, "details": list(self.details)}
        if self.noninferiority is not None:
            d["noninferiority"] = self.noninferiority.to_json()
        if self.alpha is not None:
            d["alpha"] = self.alpha.to_json(self.looks)
        return d


def rate_bounds(rounds: Sequence[Round], dense: HeldOut | None, sparse: HeldOut | None,
                confidence: float) -> tuple[RateBound, ...]:
    """One bound per uniform sample of the run: each round's batch, the held-out points."""
    out = [rate_bound(f"round {r.index} uniform batch (the policy before round {r.index}'s repair)",
                      r.uniform_violations, r.uniform_evaluations, confidence)
           for r in rounds if r.uniform_evaluations]
    for name, h in (("dense", dense), ("sparse", sparse)):
        if h is not None and h.uniform_points:
            out.append(rate_bound(f"held-out uniform, {name} policy", h.uniform_violations, h.uniform_points,
                                  confidence))
    return tuple(out)


def compare(dense: HeldOut | None, sparse: HeldOut | None, confidence: float) -> Comparison | None:
    if dense is None or sparse is None or not dense.uniform_points or not sparse.uniform_points:
        return None
    return compare_rates((dense.uniform_violations, dense.uniform_points),
                         (sparse.uniform_violations, sparse.uniform_points), confidence)


def heldout_noninferiority(dense: HeldOut | None, sparse: HeldOut | None, config: Any) -> NonInferiority | None:
    """The held-out non-inferiority test at the margin and the held-out share of the run's
    error (None without held-out uniform points)."""
    if dense is None or sparse is None or not dense.uniform_points or not sparse.uniform_points:
        return None
    where = (f"{sparse.uniform_points} held-out uniform points per policy (the same points for both), from "
             f"the stream heldout.uniform of seed {config.seed}'s seed tree (sanp.seeds), which the "
             "loop never draws from; each point runs with its own reset seed")
    return noninferiority((dense.uniform_violations, dense.uniform_points),
                          (sparse.uniform_violations, sparse.uniform_points), config.margin,
                          AlphaSplit.of(config.confidence).heldout, config.confidence, where)


def dense_violates(result: Any) -> bool:
    """Does the dense policy itself violate the spec, on held-out points or at a round's
    counterexamples?"""
    hd = result.heldout_dense
    return bool((hd is not None and (hd.uniform_violations or hd.bo_counterexamples))
                or any(r.dense_also_violates for r in result.rounds))


def last_round_sentence(rounds: Sequence[Round], optimizer: str = PRUNE_DEFAULT) -> str:
    """Exactly what the last round's falsifier (optimiser `optimizer`) found."""
    if not rounds:
        return "no refinement round was run"
    r = rounds[-1]
    n, shared = len(r.counterexamples), r.dense_also_violates
    searched = f"{r.bo_evaluations} {label(optimizer)} rollouts and {r.uniform_evaluations} uniform points"
    if n == 0:
        return f"the last round (round {r.index}) found no counterexample in {searched}"
    if n == shared:
        return (f"the last round (round {r.index}) found {n} counterexample(s) in {searched}, all also "
                "violated by the dense policy")
    if getattr(r, "within_margin", False):
        return (f"the last round (round {r.index}) found {n} counterexample(s) in {searched}, {shared} of them "
                f"also violated by the dense policy; on its uniform points the sparse policy violated "
                f"{r.uniform_violations} and the dense one {r.dense_uniform_violations} of {r.uniform_evaluations}, "
                "which shows it within the margin, so nothing was repaired")
    return (f"the last round (round {r.index}) found {n} counterexample(s) in {searched}, {n - shared} of "
            f"them not violated by the dense policy; its repair (p = {r.p:.3f}) was not checked by a "
            "further round")


def judge(result: Any) -> Verdict:
    """The verdict of a PruneResult (its `statistics` and `comparison` already set)."""
    sparsity = result.policy.sparsity()
    restored_all = [r.index for r in result.rounds if r.p is not None and r.p >= 1.0]
    last = last_round_sentence(result.rounds, result.config.optimizer)
    ni = getattr(result, "noninferiority", None)
    shared = dense_violates(result)
    hd, hs = result.heldout_dense, result.heldout_sparse
    if sparsity < NEAR_ZERO or restored_all:
        why = (f"round {restored_all[0]}'s repair restored every pruned weight (p = 1)" if restored_all
               else "step 1 and the repair left almost no weight pruned")
        ok, headline = False, f"NOTHING COMPRESSED: {why}; final sparsity {sparsity:.2%}"
    elif not result.converged and not (shared and ni is not None):
        ok, headline = False, f"NOT CONVERGED after {len(result.rounds)} round(s): {last}"
    elif (below := _below_cutoff(result)) is not None:
        ok, headline = False, f"REWARD BELOW CUTOFF: {below}"
    elif ni is not None and ni.verdict == "inferior":
        ok, headline = False, f"NOT NON-INFERIOR on held-out points: {ni.text.split(': ', 1)[1]}"
    elif ni is not None and ni.verdict == "undecided":
        ok, headline = False, f"UNDECIDED on held-out points: {ni.text.split(': ', 1)[1]}"
    elif not shared and hd is not None and hs is not None and hs.bo_counterexamples > hd.bo_counterexamples:
        ok, headline = False, (f"HELD-OUT {label(result.config.optimizer).upper()} FOUND MORE on the sparse "
                               f"policy: {hs.bo_counterexamples} "
                               f"counterexample(s) against {hd.bo_counterexamples} on the dense one")
    else:
        claim = ("" if ni is None else
                 f"; as safe as the dense policy within {ni.margin * 100:g} percentage points of violation rate "
                 f"({ni.confidence:.0%} confidence)")
        how = (f"the dense policy violates the spec too, so non-inferiority replaces convergence ({last})"
               if shared and not result.converged else last)
        ok, headline = True, (f"compressed to {sparsity:.2%} sparsity (weights; "
                              f"{result.parameter_sparsity:.2%} of all parameters){claim}; {how}")
    cfg = result.config
    looks = screen_looks(cfg)
    return Verdict(ok, headline, tuple(_details(result, last)), ni, AlphaSplit.of(cfg.confidence), looks)


def _below_cutoff(result: Any) -> str | None:
    """Why the refined policy misses the spec's reward cutoff, or None. The held-out
    episodes count only where the dense policy reaches the cutoff on them."""
    cut, n = result.reward_cutoff, result.config.episodes
    if cut is None:
        return None
    if result.final_reward < cut:
        return (f"the refined policy's mean reward {result.final_reward:.2f} over the loop's {n} episodes is "
                f"below the spec's cutoff {cut:g}")
    hd, hs = result.heldout_dense, result.heldout_sparse
    if hd is not None and hs is not None and hs.mean_reward < cut <= hd.mean_reward:
        return (f"over {n} held-out episodes the refined policy's mean reward is {hs.mean_reward:.2f}, below "
                f"the spec's cutoff {cut:g} (dense policy: {hd.mean_reward:.2f})")
    return None


def _details(result: Any, last: str) -> list[str]:
    s1 = result.step1
    out = [
        (f"step 1 pruned {s1.policy.sparsity():.2%} of the weights (k = {s1.k:.3f}, mean reward "
         f"{s1.mean_reward:.2f}); after refinement {result.policy.sparsity():.2%} of the weights, "
         f"{result.parameter_sparsity:.2%} of all parameters (biases are never pruned)"),
        f"mean reward dense {result.dense_reward:.2f}, refined {result.final_reward:.2f}",
        last[0].upper() + last[1:],
    ]
    out += [b.text + f" [{b.label}]" for b in result.statistics]
    ni = getattr(result, "noninferiority", None)
    if ni is not None:
        out.append(ni.text[0].upper() + ni.text[1:])
    if result.comparison is not None:
        out.append(result.comparison.text)
    hd, hs = result.heldout_dense, result.heldout_sparse
    if hd is not None and hs is not None:
        out.append(heldout_search_sentence(hd, hs, result.config.optimizer))
    if not result.statistics:
        out.append("no uniform sample was drawn: nothing bounds the violation rate")
    out.append(AlphaSplit.of(result.config.confidence).text(screen_looks(result.config)))
    out.append("falsification and sampling are evidence, not proof")
    return out


def heldout_search_sentence(hd: HeldOut, hs: HeldOut, optimizer: str) -> str:
    """What the held-out search by `optimizer` found, and why its counts carry no rate."""
    who = label(optimizer)
    why = ("the non-inferiority test uses the held-out uniform points" if is_uniform(optimizer)
           else f"{who} does not sample uniformly")
    return (f"held-out {who} search ({hs.bo_evaluations} rollouts per policy) found {hd.bo_counterexamples} "
            f"counterexample(s) on the dense and {hs.bo_counterexamples} on the sparse policy: evidence that "
            f"violations exist, not a rate ({why})")


def screen_looks(cfg: Any) -> int | None:
    """The safety screen's looks when the run's recipe screens its levels (a recipe's
    optional `screens` attribute), else None."""
    return cfg.deep.screen_looks if getattr(cfg.recipe_object, "screens", False) and cfg.deep.screen else None
