"""The deep recipe: the path guard, the gradual schedule against the paper's step 1,
and the repair that keeps sparsity, on the CartPole zoo policy with small budgets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import stl
from sanp import formats as policies
from sanp.envs import bind
from sanp.errors import OptionError
from sanp.method.deep import (
    DeepConfig,
    RepairConfig,
    deep_compress,
    finetune_repair,
    mean_reward,
    path_guard,
    prune_to,
)
from sanp.method.finetune import FinetuneConfig
from sanp.method.step1 import importance, search_sparsity
from sanp.method.recover import is_safe
from sanp.rollout import run_batch
from sanp.runtime import deployed

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]


def _connected(masks) -> torch.Tensor:
    reach = (masks[0] != 0).float()
    for m in masks[1:]:
        reach = (m != 0).float() @ reach
    return reach > 0  # [out, in]


def test_path_guard_connects_every_input_to_every_output_with_few_weights():
    g = torch.Generator().manual_seed(0)
    shapes = [(6, 3), (5, 6), (2, 5)]
    scores = [torch.rand(s, generator=g) for s in shapes]
    empty = [torch.zeros(s) for s in shapes]
    allowed = [torch.ones(s) for s in shapes]
    guarded = path_guard(empty, scores, allowed)
    assert bool(_connected(guarded).all())
    # one path per (input, output) pair at most, shared where it can be
    assert sum(int(m.sum()) for m in guarded) <= 3 * 3 + 2 * 2
    # an input left out stays unconnected
    partial = path_guard(empty, scores, allowed, inputs=[0, 2])
    assert bool(_connected(partial)[:, [0, 2]].all()) and not bool(_connected(partial)[:, 1].any())
    # already connected masks come back unchanged
    again = path_guard(guarded, scores, allowed)
    assert all(torch.equal(a, b) for a, b in zip(again, guarded))


def test_path_guard_takes_allowed_weights_over_pruned_ones():
    shapes = [(4, 2), (4, 4), (1, 4)]
    scores = [torch.ones(s) for s in shapes]
    allowed = [torch.zeros(s) for s in shapes]
    # one allowed route: both inputs -> unit 3 -> unit 3 -> the output
    allowed[0][3, :] = 1.0
    allowed[1][3, 3] = 1.0
    allowed[2][0, 3] = 1.0
    guarded = path_guard([torch.zeros(s) for s in shapes], scores, allowed)
    assert bool(_connected(guarded).all())
    assert all(bool((g <= a).all()) for g, a in zip(guarded, allowed))


@pytest.fixture(scope="module")
def cartpole():
    spec = stl.load(ROOT / "specs" / "cartpole.stl")
    return spec, bind(spec), policies.load(ROOT / "zoo" / "cartpole" / "dense.onnx")


def test_prune_to_keeps_the_density_and_never_revives_a_pruned_weight(cartpole):
    _, _, dense = cartpole
    first = prune_to(dense, 0.1, importance(dense, "magnitude"))
    assert first.sparsity() == pytest.approx(0.9, abs=0.001)
    second = prune_to(first, 0.05, importance(first, "magnitude"))
    assert second.sparsity() == pytest.approx(0.95, abs=0.001)
    assert all(bool((b <= a).all()) for a, b in zip(first.masks, second.masks))
    # far past the per-layer floor of the paper's global pruning (1% per layer)
    tiny = prune_to(dense, 0.0005, importance(dense, "magnitude"))
    assert tiny.sparsity() > 0.99 and bool(_connected(tiny.masks).all())


def test_deep_recipe_beats_the_paper_step1_on_cartpole_with_the_cutoff_met(cartpole):
    spec, binding, dense = cartpole
    episodes, seed = 20, 0
    states = np.concatenate([t.observations for t in run_batch(dense, binding, [None] * 5, list(range(5)),
                                                                record_states=False)])
    paper = search_sparsity(dense, importance(dense, "activation", states),
                            lambda p: mean_reward(p, binding, episodes, seed), spec.reward_threshold,
                            scope="global", resolution=0.01)
    cfg = DeepConfig(episodes=episodes, seed=seed, step=0.5, min_step=0.25, retries=0, max_sparsity=0.985,
                     collect_episodes=3, collect_points=3, finetune=FinetuneConfig(steps=150, lr=3e-3))
    res = deep_compress(dense, binding, spec, cfg)
    assert res.sparsity > paper.policy.sparsity() and res.sparsity >= 0.98
    assert res.mean_reward >= spec.reward_threshold and res.stop in ("step", "max_sparsity")
    assert mean_reward(res.policy, binding, episodes, seed) == res.mean_reward
    accepted = [s for s in res.history if s.accepted]
    assert all(s.mean_reward >= spec.reward_threshold for s in res.history if s.accepted)
    assert res.sparsity == max(s.sparsity for s in accepted)
    for lin, m in zip(res.policy.linears, res.policy.masks):
        assert torch.count_nonzero(lin.weight[m == 0]) == 0
    step1 = res.to_search()
    assert step1.scan[0].k == 0.0 and step1.scan[0].mean_reward == res.dense_reward
    assert step1.policy is res.policy and step1.k == res.sparsity


def test_deep_recipe_refuses_a_spec_without_cutoff(cartpole, spec_from_text):
    _, binding, dense = cartpole
    spec = spec_from_text("env CartPole-v1\nsignal x = obs[0]\nreq p: always (abs(x) <= 2.4)\n")
    with pytest.raises(OptionError, match="reward cutoff"):
        deep_compress(dense, binding, spec)


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
