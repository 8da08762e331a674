"""The verdict's first line says what happened; ONNX metadata keeps the env's kwargs."""
from __future__ import annotations

import json
from dataclasses import replace

import torch

from sanp.method import PruneConfig, PruneResult
from sanp.method.heldout import HeldOut
from sanp.method.rounds import CexSummary, Round
from sanp.method.step1 import SparsitySearch, SparsityStep, importance, prune
from sanp.method.verdict import (
    compare,
    heldout_noninferiority,
    judge,
    last_round_sentence,
    rate_bounds,
)
from sanp.model import MLPPolicy
from sanp.report import prune_metadata

torch.set_num_threads(1)


def _policy(k: float) -> MLPPolicy:
    torch.manual_seed(0)
    dense = MLPPolicy([4, 16, 8, 2], "relu", action_kind="discrete")
    return prune(dense, k, importance(dense, "magnitude"), "global") if k else dense


def _round(index: int, n_cex: int, shared: int, p: float | None, uniform: int = 100, bad: int = 0) -> Round:
    cexs = tuple(CexSummary({"x": 0.0}, ("angle",), -0.1, 3) for _ in range(n_cex))
    return Round(index, index, 20, uniform, bad, cexs, shared, n_cex - shared, 0, p,
                 None if p is None else (1, 1, 1), 0, (), 0.5)


def _heldout(violations: int, bo: int = 0, reward: float = 200.0, points: int = 1000) -> HeldOut:
    return HeldOut(20, bo, 0.1, points, violations, {"angle": violations}, reward)


def _result(policy, rounds, converged, hd=None, hs=None, final_reward=199.0, cutoff=None,
            cfg: PruneConfig | None = None) -> PruneResult:
    cfg = cfg or PruneConfig()
    step1 = SparsitySearch(0.9, _policy(0.9), 196.0, (SparsityStep(0.0, 0.0, 200.0, True),))
    r = PruneResult(cfg, 200.0, step1, tuple(rounds), policy, final_reward, converged, hd, hs, {},
                    rate_bounds(rounds, hd, hs, cfg.confidence), compare(hd, hs, cfg.confidence),
                    reward_cutoff=cutoff, noninferiority=heldout_noninferiority(hd, hs, cfg))
    return replace(r, verdict=judge(r))


def test_a_repair_that_restored_everything_compressed_nothing():
    res = _result(_policy(0.0), [_round(1, 4, 0, 1.0), _round(2, 0, 0, None)], True, _heldout(0), _heldout(0))
    v = res.verdict
    assert not v.ok
    assert v.headline.startswith("NOTHING COMPRESSED: round 1's repair restored every pruned weight")


def test_near_zero_sparsity_is_nothing_compressed():
    res = _result(_policy(0.005), [_round(1, 0, 0, None)], True, _heldout(0), _heldout(0))
    assert not res.verdict.ok and res.verdict.headline.startswith("NOTHING COMPRESSED")


def test_counterexamples_the_dense_policy_shares_are_not_called_none():
    rounds = [_round(1, 5, 0, 0.01), _round(2, 17, 17, None)]
    res = _result(_policy(0.9), rounds, True, _heldout(0), _heldout(0))
    assert res.verdict.ok
    assert "found 17 counterexample(s)" in res.verdict.headline
    assert "all also violated by the dense policy" in res.verdict.headline
    assert "no counterexample" not in res.verdict.headline
    assert last_round_sentence(rounds[:1]).endswith("was not checked by a further round")


def test_an_excess_the_test_cannot_decide_is_not_ok():
    # 2 vs 0 of 1000: within the default half-point margin, but not shown at the held-out share
    res = _result(_policy(0.9), [_round(1, 0, 0, None)], True, _heldout(0), _heldout(2))
    assert not res.verdict.ok and res.noninferiority.verdict == "undecided"
    need = res.noninferiority.points_to_decide
    assert res.verdict.headline.startswith("UNDECIDED on held-out points")
    assert f"about {need} uniform points per policy at these rates would show non-inferiority" in res.verdict.headline
    assert need > 1000
    # one violation fewer is shown: the statement names what the margin and the points were
    one = _result(_policy(0.9), [_round(1, 0, 0, None)], True, _heldout(0), _heldout(1))
    assert one.verdict.ok and one.noninferiority.verdict == "non-inferior"
    labels = [b.label for b in res.statistics]
    assert labels == ["round 1 uniform batch (the policy before round 1's repair)",
                      "held-out uniform, dense policy", "held-out uniform, sparse policy"]


def test_not_converged_says_what_the_last_round_found():
    # no held-out check: nothing can stand in for convergence, though the dense policy shares 2
    res = _result(_policy(0.9), [_round(1, 6, 2, 0.02)], False)
    assert res.verdict.headline.startswith("NOT CONVERGED after 1 round(s): the last round (round 1) found 6 "
                                           "counterexample(s)")
    assert "4 of them not violated by the dense policy" in res.verdict.headline


def test_onnx_metadata_keeps_the_env_kwargs(spec_from_text):
    spec = spec_from_text("env LunarLander-v3 (continuous=true)\nhorizon 1000\nreward >= 200\n"
                          "signal x = obs[0]\nreq pos: always (abs(x) <= 1)\n")
    res = _result(_policy(0.9), [_round(1, 0, 0, None)], True, _heldout(0), _heldout(0))
    meta = prune_metadata(res, spec)
    assert meta["env_id"] == "LunarLander-v3"
    assert json.loads(meta["env_kwargs"]) == {"continuous": True}
    assert meta["verdict"] == res.verdict.headline
    assert float(meta["parameter_sparsity"]) < float(meta["sparsity"])


def test_a_final_reward_below_the_cutoff_is_not_ok():
    res = _result(_policy(0.9), [_round(1, 0, 0, None)], True, _heldout(0), _heldout(0), final_reward=194.0,
                  cutoff=195.0)
    assert not res.verdict.ok
    assert res.verdict.headline.startswith("REWARD BELOW CUTOFF: the refined policy's mean reward 194.00")
    at = _result(_policy(0.9), [_round(1, 0, 0, None)], True, _heldout(0), _heldout(0), final_reward=195.0,
                 cutoff=195.0)
    assert at.verdict.ok


def test_a_heldout_reward_below_the_cutoff_counts_only_where_the_dense_one_reaches_it():
    rounds = [_round(1, 0, 0, None)]
    res = _result(_policy(0.9), rounds, True, _heldout(0, reward=210.0), _heldout(0, reward=190.0),
                  final_reward=205.0, cutoff=195.0)
    assert not res.verdict.ok
    assert "held-out episodes the refined policy's mean reward is 190.00" in res.verdict.headline
    both = _result(_policy(0.9), rounds, True, _heldout(0, reward=180.0), _heldout(0, reward=190.0),
                   final_reward=205.0, cutoff=195.0)
    assert both.verdict.ok


def test_every_ok_verdict_records_one_noninferiority_statement():
    res = _result(_policy(0.9), [_round(1, 0, 0, None)], True, _heldout(0), _heldout(0))
    v = res.verdict
    assert v.ok and "as safe as the dense policy within 0.5 percentage points of violation rate (95% confidence)" \
        in v.headline
    ni = v.to_json()["noninferiority"]
    assert (ni["margin"], ni["confidence"], ni["verdict"]) == (0.005, 0.95, "non-inferior")
    assert ni["dense"] == {"violations": 0, "points": 1000} and ni["sparse"] == {"violations": 0, "points": 1000}
    assert ni["alpha"] == v.alpha.heldout == 0.9 * (1 - 0.95) and ni["p_value"] < ni["alpha"]
    assert "stream heldout.uniform of seed 0" in ni["points"] and "own reset seed" in ni["points"]
    assert [d for d in v.details if d.startswith("Non-inferior: with 95% confidence")] == [ni["text"][0].upper()
                                                                                        + ni["text"][1:]]
    assert v.to_json()["alpha"]["text"].startswith("alpha 0.05 split as: held-out non-inferiority test 0.045")
    # a wider margin is the user's to state, and the statement says it
    wide = _result(_policy(0.9), [_round(1, 0, 0, None)], True, _heldout(0), _heldout(3),
                   cfg=PruneConfig(margin=0.02))
    assert wide.verdict.ok and "within 2 percentage points" in wide.verdict.headline


def test_a_sparse_policy_worse_by_more_than_the_margin_is_not_ok():
    res = _result(_policy(0.9), [_round(1, 0, 0, None)], True, _heldout(0), _heldout(30))
    assert not res.verdict.ok and res.verdict.headline.startswith(
        "NOT NON-INFERIOR on held-out points: the sparse policy's violation rate exceeds the dense one's + 0.5 "
        "percentage points")


def test_where_the_dense_policy_violates_noninferiority_replaces_convergence():
    # the last round's 6 counterexamples, 2 shared with the dense policy: not converged
    rounds = [_round(1, 6, 2, 0.02)]
    shared = _result(_policy(0.9), rounds, False, _heldout(300, points=30000), _heldout(310, points=30000))
    assert shared.noninferiority.verdict == "non-inferior" and shared.verdict.ok
    assert "the dense policy violates the spec too, so non-inferiority replaces convergence" in shared.verdict.headline
    # the same rates on 1000 points cannot show it: how many points would, is said
    few = _result(_policy(0.9), rounds, False, _heldout(10), _heldout(10))
    assert not few.verdict.ok and few.verdict.headline.startswith("UNDECIDED")
    assert few.noninferiority.points_to_decide > 1000
    # a dense policy that violates nothing: convergence is still required
    clean = _result(_policy(0.9), [_round(1, 6, 0, 0.02)], False, _heldout(0), _heldout(0))
    assert not clean.verdict.ok and clean.verdict.headline.startswith("NOT CONVERGED")
