"""The deep recipe's gradual schedule against the paper's step 1, on the CartPole zoo
policy with small budgets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import stl
from sanp import formats as policies
from sanp.envs import bind
from sanp.errors import OptionError
from sanp.method.deep import DeepConfig, deep_compress, mean_reward
from sanp.method.finetune import FinetuneConfig
from sanp.method.step1 import importance, search_sparsity
from sanp.rollout import run_batch

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def cartpole():
    spec = stl.load(ROOT / "specs" / "cartpole.stl")
    return spec, bind(spec), policies.load(ROOT / "zoo" / "cartpole" / "dense.onnx")


@pytest.mark.parametrize("criterion", ["activation", "sensitivity"])
def test_deep_recipe_beats_the_paper_step1_on_cartpole_with_the_cutoff_met(cartpole, criterion):
    spec, binding, dense = cartpole
    episodes, seed = 20, 0
    states = np.concatenate([t.observations for t in run_batch(dense, binding, [None] * 5, list(range(5)),
                                                                record_states=False)])
    paper = search_sparsity(dense, importance(dense, "activation", states),
                            lambda p: mean_reward(p, binding, episodes, seed), spec.reward_threshold,
                            scope="global", resolution=0.01)
    cfg = DeepConfig(episodes=episodes, seed=seed, step=0.5, min_step=0.25, retries=0, max_sparsity=0.985,
                     collect_episodes=3, collect_points=3, finetune=FinetuneConfig(steps=150, lr=3e-3),
                     criterion=criterion)
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


def test_a_schedule_past_its_time_limit_says_so_and_keeps_what_passed(cartpole):
    spec, binding, dense = cartpole
    cfg = DeepConfig(episodes=5, seed=0, collect_episodes=1, collect_points=1, screen=0,
                     finetune=FinetuneConfig(steps=10, lr=3e-3), time_limit=1e-9)
    said: list[str] = []
    res = deep_compress(dense, binding, spec, cfg, log=said.append)
    # the limit is checked before each level: none was tried, the dense policy is what passed
    assert res.stop == "time_limit" and res.history == () and res.sparsity == 0.0
    assert "deep: stopped by the safety time limit (1e-09 s) after 0 level(s); the result depends on machine " \
        "speed and is not reproducible" in said[-2]
    assert res.to_search().stop == "time_limit" and len(res.to_search().scan) == 1
