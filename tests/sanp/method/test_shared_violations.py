"""Where the dense policy violates the spec too, a round whose uniform sample shows the
sparse policy within the margin of the dense one repairs nothing: the repair does not
trade compression for the dense policy's own failure modes."""
from __future__ import annotations

from pathlib import Path

import torch

import stl
from sanp import formats as policies
from sanp.envs import bind
from sanp.method import PruneConfig
from sanp.method.recover import is_safe
from sanp.method.rounds import refine_round
from sanp.method.step1 import importance, prune
from sanp.method.verdict import last_round_sentence
from sanp.rollout import run_batch

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]


def _setup():
    # the pole held within 0.02 rad: the dense policy itself violates it from many points
    text = (ROOT / "specs" / "cartpole.stl").read_text().replace("abs(theta) <= 0.2)", "abs(theta) <= 0.02)")
    spec = stl.parse(text, "tight.stl")
    binding = bind(spec)
    dense = policies.load(ROOT / "zoo" / "cartpole" / "dense.onnx")
    return spec, binding, dense


def _round(spec, binding, dense, sparse, margin):
    cfg = PruneConfig(recipe="paper", budget=4, round_uniform=40, margin=margin, episodes=5)
    return refine_round(1, sparse, dense, dense, binding, spec, spec.reward_threshold, cfg, {})


def test_a_round_within_the_margin_of_a_violating_dense_policy_repairs_nothing():
    spec, binding, dense = _setup()
    sparse = prune(dense, 0.98, importance(dense, "magnitude"), "global")
    out = _round(spec, binding, dense, sparse, margin=0.9)
    r = out.round
    assert r.dense_also_violates > 0 and len(r.counterexamples) > r.dense_also_violates
    assert r.uniform_evaluations == 40 and r.dense_uniform_violations == _dense_on_round_points(spec, binding, dense)
    assert r.uniform_violations - r.dense_uniform_violations <= 0.9 * 40
    assert r.within_margin and r.clean and r.p is None and out.policy is sparse
    assert "within the margin, so nothing was repaired" in last_round_sentence([r])


def test_a_round_beyond_the_margin_still_repairs():
    spec, binding, dense = _setup()
    sparse = prune(dense, 0.98, importance(dense, "magnitude"), "global")
    out = _round(spec, binding, dense, sparse, margin=0.001)
    r = out.round
    assert r.dense_also_violates > 0 and r.dense_uniform_violations is not None
    # the dense count is the dense policy's own on the round's points
    assert r.uniform_violations - r.dense_uniform_violations > 0.001 * 40
    assert not r.within_margin and r.p is not None and r.repair == "restore"
    assert r.dense_uniform_violations == _dense_on_round_points(spec, binding, dense)


def _dense_on_round_points(spec, binding, dense) -> int:
    """The dense policy's violations on round 1's uniform points, redrawn as the round draws them."""
    from sanp import seeds
    from sanp.falsify import FalsifyConfig, falsify

    seed = seeds.integer(PruneConfig().seed, "round.1.falsify")
    uni = falsify(dense, binding, spec, FalsifyConfig(budget=40, optimizer="random", seed=seed, collect_all=True))
    runs = run_batch(dense, binding, [e.point for e in uni.evaluations], record_states=False)
    return sum(not is_safe(spec, t) for t in runs)
