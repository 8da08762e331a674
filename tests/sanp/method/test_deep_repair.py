"""The deep recipe's per-round repair, and the checkpoint that keeps fine-tuned weights."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sanp.method.resume_file import Checkpoint, Progress
from sanp.method.config import PruneConfig
from sanp.method.deep import DeepConfig, mean_reward
from sanp.method.deep_repair import RepairConfig, backoff, deep_repair, finetune_repair
from sanp.method.finetune import FinetuneConfig, finetune
from sanp.method.recover import is_safe
from sanp.method.repair import repair
from sanp.method.step1 import SparsitySearch, importance, prune
from sanp.rollout import run_batch
from sanp.runtime import deployed

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def case(falsified_cartpole):
    """The CartPole zoo policy pruned one-shot to 98% (beyond what it survives), its
    recovery states and the states of 5 dense episodes."""
    spec, binding, dense, sparse, _found, rec, states = falsified_cartpole
    return spec, binding, dense, sparse, rec, states


def _dead(policy):
    """A copy of `policy` with every weight and bias zero (the cart is pushed one way)."""
    out = policy.clone()
    with torch.no_grad():
        for lin in out.linears:
            lin.weight.zero_()
            lin.bias.zero_()
    return out


def _stub_finetune(monkeypatch, policy, fixed):
    """`finetune_repair` stubbed: it returns `policy`, fixing `fixed`, with a reward far
    above any cutoff."""
    import sanp.method.deep_repair as dr

    monkeypatch.setattr(dr, "finetune_repair", lambda *_a, **_k: (
        policy, list(fixed), dr.RepairInfo(1, (0, sum(fixed)), policy.sparsity(), 1e9)))


def _config(steps: int) -> PruneConfig:
    return PruneConfig(episodes=20, resolution=0.01, deep=DeepConfig(finetune=FinetuneConfig(steps=steps, lr=3e-3)))


def test_finetuning_repair_is_chosen_when_it_fixes_the_round_and_keeps_the_sparsity(case):
    spec, binding, dense, sparse, rec, states = case
    fix, used = deep_repair(sparse, dense, binding, spec, rec, states, spec.reward_threshold, _config(300))
    assert used == "finetune"
    assert fix.p == 0.0 and sum(fix.restored) == 0 and not fix.unfixed
    assert fix.policy.sparsity() == sparse.sparsity()
    assert all(torch.equal(a, b) for a, b in zip(fix.policy.masks, sparse.masks))
    # the paper's restoration gives up sparsity for the same counterexamples
    assert repair(sparse, dense, binding, spec, rec, resolution=0.01).policy.sparsity() < sparse.sparsity()


def test_without_a_useful_finetune_it_falls_back_to_the_papers_restoration(case):
    spec, binding, dense, sparse, rec, states = case
    fix, used = deep_repair(sparse, dense, binding, spec, rec, states, spec.reward_threshold, _config(0))
    paper = repair(sparse, dense, binding, spec, rec, resolution=0.01)
    assert used == "restore"
    assert fix.p == paper.p > 0 and fix.restored == paper.restored
    assert all(torch.equal(a, b) for a, b in zip(fix.policy.masks, paper.policy.masks))


def test_the_checkpoint_keeps_finetuned_weights_anchor_states_and_levels(case, tmp_path):
    _, _, dense, sparse, _, states = case
    tuned, _ = finetune(sparse, dense, states, FinetuneConfig(steps=20))
    assert not torch.equal(tuned.linears[0].weight, sparse.linears[0].weight)
    half = prune(dense, 0.5, importance(dense, "magnitude"), "global")
    half.apply_masks()  # as the schedule's levels are
    ckpt = Checkpoint(tmp_path / "run.ckpt.npz", {"test": 1})
    ckpt.save(Progress(SparsitySearch(0.98, tuned, 200.0, ()), tuned, False, anchors=states, levels=(half, tuned)))
    back = ckpt.load(dense)
    assert len(back.levels) == 2
    for pol, want in ((back.step1.policy, tuned), (back.sparse, tuned), (back.levels[0], half),
                      (back.levels[1], tuned)):
        for a, b in zip(pol.linears, want.linears):
            assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
        assert all(torch.equal(a, b) for a, b in zip(pol.masks, want.masks))
    assert np.array_equal(back.anchors, states)


def test_a_deep_run_resumed_after_step_1_reaches_the_uninterrupted_result(case, tmp_path):
    import json

    from sanp.method import prune_and_refine
    from sanp.report import prune_report

    spec, binding, dense, *_ = case
    deep = DeepConfig(step=0.5, min_step=0.25, retries=0, max_sparsity=0.95, collect_episodes=3, collect_points=3,
                      finetune=FinetuneConfig(steps=100, lr=3e-3))
    config = PruneConfig(criterion="activation", episodes=20, budget=6, rounds=2, round_uniform=100,
                         heldout_budget=6, heldout_uniform=100, seed=5, recipe="deep", deep=deep)

    def run(ckpt=None, stop_at=None):
        def log(msg):
            if stop_at and msg.startswith(stop_at):
                raise KeyboardInterrupt
        res = prune_and_refine(dense, binding, spec, config, log=log, checkpoint=ckpt)
        doc = prune_report(res, spec, policy_path=str(ROOT / "zoo" / "cartpole" / "dense.onnx"),
                           spec_path=str(ROOT / "specs" / "cartpole.stl"), output_path="x")
        doc.pop("timing")
        return res, json.dumps(doc, sort_keys=True)

    whole, doc = run()
    # several levels adopted, so that the resume has a schedule and rounds to go on from
    assert whole.step1.policy.sparsity() > 0.5 and json.loads(doc)["inputs"]["options"]["recipe"] == "deep"
    assert json.loads(doc)["step1"]["stop"] == whole.step1.stop in ("step", "max_sparsity")  # not a time limit
    assert whole.reward_cutoff == spec.reward_threshold  # what the verdict holds the rewards to
    ckpt = Checkpoint(tmp_path / "run.ckpt.npz", {"test": 1})
    with pytest.raises(KeyboardInterrupt):
        run(ckpt, "step 1 done")
    resumed, doc2 = run(ckpt)
    assert doc2 == doc
    for a, b in zip(whole.policy.linears, resumed.policy.linears):
        assert torch.equal(a.weight, b.weight)


def test_finetune_repair_keeps_the_sparsity_and_reports_what_it_fixed(falsified_cartpole):
    spec, binding, dense, sparse, found, rec, states = falsified_cartpole
    cfg = RepairConfig(iterations=3, finetune=FinetuneConfig(steps=300, lr=3e-3), episodes=20)
    pol, fixed, info = finetune_repair(sparse, dense, binding, spec, found.counterexamples, rec,
                                       anchor_states=states, config=cfg)
    assert pol.sparsity() == sparse.sparsity() == info.sparsity
    assert all(torch.equal(a, b) for a, b in zip(pol.masks, sparse.masks))
    for lin, m in zip(pol.linears, pol.masks):
        assert torch.count_nonzero(lin.weight[m == 0]) == 0
    rerun = run_batch(deployed(pol), binding, [c.point for c in found.counterexamples])
    assert fixed == [is_safe(spec, t) for t in rerun]
    assert info.fixed_per_iteration[0] == 0 and sum(fixed) == max(info.fixed_per_iteration) > 0
    assert info.mean_reward == mean_reward(pol, binding, 20, 0)


def test_a_finetune_that_breaks_the_kept_weights_loses_to_the_papers_restoration(case, monkeypatch):
    """The mixed restoration (dense values beside fine-tuned ones) is chosen only when it
    leaves no more counterexamples unfixed than the paper's: here the 'fine-tuned' policy
    has its kept weights negated, so restoring only the pruned ones cannot fix it."""
    spec, binding, dense, sparse, rec, states = case
    broken = sparse.clone()
    with torch.no_grad():
        for lin in broken.linears:
            lin.weight.neg_()
    n = len(rec)

    _stub_finetune(monkeypatch, broken, [True] * (n - 1) + [False])
    fix, used = deep_repair(sparse, dense, binding, spec, rec, states, spec.reward_threshold, _config(10))
    paper = repair(sparse, dense, binding, spec, rec, resolution=0.01)
    mixed = repair(broken, dense, binding, spec, rec, resolution=0.01)
    assert len(mixed.unfixed) > len(paper.unfixed)  # the premise
    assert used == "restore" and fix.p == paper.p and fix.restored == paper.restored


def test_backoff_takes_the_level_below_with_the_fewest_unsafe_counterexamples_then_the_sparsest(case):
    spec, binding, dense, sparse, rec, _ = case
    cexs = [s.counterexample for s in rec]
    scores = importance(dense, "magnitude")
    half, most = prune(dense, 0.5, scores, "global"), prune(dense, 0.97, scores, "global")

    def unsafe(pol):
        return sum(not is_safe(spec, t) for t in run_batch(deployed(pol), binding, [c.point for c in cexs]))
    bad = {id(p): unsafe(p) for p in (half, most, sparse)}
    assert bad[id(half)] == 0 < bad[id(sparse)]  # the premise
    back = backoff(sparse, [half, most, sparse, dense], binding, spec, cexs)
    want = most if bad[id(most)] == 0 else half  # the sparsest safe one; `sparse` itself is not below
    assert back.policy is want and back.unfixed == () and len(back.fixed) == len(cexs)
    assert sum(back.restored) == sum(int(((w > 0) & (s == 0)).sum()) for w, s in zip(want.masks, sparse.masks))
    assert backoff(sparse, [sparse], binding, spec, cexs) is None
    # no level below is safe on all: the one leaving the fewest unsafe is still offered
    worse = prune(dense, 0.99, scores, "global")
    assert worse.sparsity() > sparse.sparsity() > most.sparsity()
    assert bad[id(most)] < len(cexs)  # the premise: `most` fixes some
    back = backoff(worse, [sparse, most], binding, spec, cexs)
    want = min((sparse, most), key=lambda p: (bad[id(p)], -p.sparsity()))
    assert back.policy is want and len(back.unfixed) == bad[id(want)]
    assert len(back.fixed) + len(back.unfixed) == len(cexs)


def test_a_candidate_that_drops_the_reward_below_the_cutoff_is_never_used(case, monkeypatch):
    """Restoration that fixes every counterexample but wrecks the reward (here: every
    weight zero) loses to a backoff level that keeps the reward, and with no level the
    round's policy stays as it was ("none")."""
    import sanp.method.deep_repair as dr

    spec, binding, dense, sparse, rec, states = case
    n = len(rec)
    dead = _dead(sparse)
    assert mean_reward(dead, binding, 20, 0) < spec.reward_threshold  # the premise
    _stub_finetune(monkeypatch, sparse, [False] * n)
    monkeypatch.setattr(dr, "repair", lambda *_a, **_k: dr.Repair(dead, 0.5, (0,), (), (), ()))
    half = prune(dense, 0.5, importance(dense, "magnitude"), "global")
    fix, used = deep_repair(sparse, dense, binding, spec, rec, states, spec.reward_threshold, _config(10),
                            levels=[half])
    assert used == "backoff" and fix.policy is half
    fix, used = deep_repair(sparse, dense, binding, spec, rec, states, spec.reward_threshold, _config(10), levels=[])
    assert used == "none" and fix.policy is sparse and len(fix.unfixed) == n and fix.p == 0.0


def test_a_partial_finetune_that_keeps_the_reward_competes_with_the_other_repairs(case, monkeypatch):
    """A fine-tune that fixes all but one counterexample at full sparsity beats a
    restoration that leaves two unfixed, and loses to one that leaves none."""
    import sanp.method.deep_repair as dr

    spec, binding, dense, sparse, rec, states = case
    rec = list(rec) * 3  # three counterexamples at least (the stubs never rerun them)
    n = len(rec)
    cexs = tuple(s.counterexample for s in rec)
    tuned = sparse.clone()
    _stub_finetune(monkeypatch, tuned, [True] * (n - 1) + [False])
    for left, want in ((2, "finetune"), (0, "restore")):
        monkeypatch.setattr(dr, "repair", lambda *_a, left=left, **_k: dr.Repair(dense, 1.0, (0,), cexs[left:],
                                                                                  cexs[:left], ()))
        fix, used = deep_repair(sparse, dense, binding, spec, rec, states, spec.reward_threshold, _config(10))
        assert used == want
        assert (fix.policy is tuned and len(fix.unfixed) == 1) if want == "finetune" else fix.policy is dense


def test_backoff_wins_when_restoration_keeps_less_sparsity(case, monkeypatch):
    import sanp.method.deep_repair as dr

    spec, binding, dense, sparse, rec, states = case
    n = len(rec)
    half = prune(dense, 0.5, importance(dense, "magnitude"), "global")
    _stub_finetune(monkeypatch, sparse, [False] * n)
    # a restoration that gives back every weight: the schedule's half-sparse level must win
    monkeypatch.setattr(dr, "repair", lambda *_a, **_k: dr.Repair(dense, 1.0, (0,), (), (), ()))
    fix, used = deep_repair(sparse, dense, binding, spec, rec, states, spec.reward_threshold, _config(10),
                            levels=[half])
    assert used == "backoff" and fix.policy is half
    fix, used = deep_repair(sparse, dense, binding, spec, rec, states, spec.reward_threshold, _config(10), levels=[])
    assert used == "restore" and fix.policy is dense


def test_a_repair_that_fails_the_safety_screen_is_never_used(case, monkeypatch):
    """A 'fine-tune' that fixes the round's counterexamples with the reward at the cutoff
    (as reported) but violates the spec on most uniform points (every weight zero: the
    cart pushes one way) is the repair without a screen and rejected with one; the
    restoration that passes the screen is used instead."""
    import sanp.method.deep_repair as dr
    from sanp.method.screen import Screen

    spec, binding, dense, sparse, rec, states = case
    n = len(rec)
    dead = _dead(sparse)
    screen = Screen.draw(binding, spec, dense, points=20, seed=0)
    chk = screen.check(dead)
    assert not chk.passed and screen.check(dense).passed  # the premise
    _stub_finetune(monkeypatch, dead, [True] * n)
    monkeypatch.setattr(dr, "repair", lambda *_a, **_k: dr.Repair(dense, 1.0, (0,), (), (), ()))
    fix, used = deep_repair(sparse, dense, binding, spec, rec, states, spec.reward_threshold, _config(10))
    assert used == "finetune" and fix.policy is dead
    fix, used = deep_repair(sparse, dense, binding, spec, rec, states, spec.reward_threshold, _config(10),
                            screen=screen)
    assert used == "restore" and fix.policy is dense
