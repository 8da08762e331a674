"""Recovery states and gradient-guided restoration, on the CartPole zoo policy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import stl
from sanp import formats as policies
from sanp.envs import bind
from sanp.falsify import Counterexample, FalsifyConfig, falsify, score
from sanp.method.recover import find_recovery_states, is_safe
from sanp.method.repair import gradient_scores, repair, restore
from sanp.rollout import continue_batch, run
from sanp.runtime import deployed

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def setting(overpruned_cartpole):
    # One-shot pruned far past what is safe: many counterexamples, all recoverable.
    spec, binding, dense, sparse, _states = overpruned_cartpole(0.994)
    return spec, binding, dense, sparse


class PushRight:
    obs_dim, action_kind = 4, "discrete"

    def act(self, obs):
        return np.ones(len(obs), dtype=np.int64)


def test_recovery_state_is_the_latest_state_the_dense_policy_recovers_from(setting):
    spec, binding, dense, _ = setting
    point = binding.point([0.0, 0.0, 0.0, 0.0])
    traj = run(PushRight(), binding, point)
    rob = score(spec, list(spec.requirements), traj)
    assert min(rob.values()) < 0 and traj.terminated  # a real counterexample
    cex = Counterexample(point, ("angle",), rob, min(rob.values()), traj.length, traj, 0)
    (rec,) = find_recovery_states(dense, binding, spec, [cex], spec.reward_threshold)
    assert rec.step is not None and 0 < rec.step < traj.length
    after, at = continue_batch(dense, binding, [(traj, rec.step + 1), (traj, rec.step)])
    assert is_safe(spec, at, spec.reward_threshold)
    assert at.total_reward == rec.total_reward >= spec.reward_threshold
    assert np.array_equal(at.observations[: rec.step + 1], traj.observations[: rec.step + 1])
    assert not is_safe(spec, after, spec.reward_threshold)


def test_unrecoverable_counterexample_is_reported_not_dropped(setting):
    spec, binding, dense, _ = setting
    point = binding.point([0.0, 0.0, 0.0, 0.0])
    traj = run(PushRight(), binding, point)
    rob = score(spec, list(spec.requirements), traj)
    cex = Counterexample(point, ("angle",), rob, min(rob.values()), 0, traj, 0)
    # A cutoff no episode of 200 steps can reach: no state qualifies.
    (rec,) = find_recovery_states(dense, binding, spec, [cex], 10_000.0)
    assert rec.step is None and rec.counterexample is cex


def test_gradients_reach_pruned_positions_and_restore_takes_the_largest(setting):
    _, _, dense, sparse = setting
    obs = np.random.default_rng(0).uniform(-0.1, 0.1, size=(16, 4)).astype(np.float32)
    grads = gradient_scores(sparse, dense, obs)
    for g, m in zip(grads, sparse.masks):
        assert g[m == 0].abs().sum() > 0
    fixed, counts = restore(sparse, dense, grads, 0.1)
    for i, (g, m_old, m_new) in enumerate(zip(grads, sparse.masks, fixed.masks)):
        n_pruned = int((m_old == 0).sum())
        assert counts[i] == int(np.ceil(0.1 * n_pruned))
        newly = (m_old == 0) & (m_new == 1)
        assert int(newly.sum()) == counts[i]
        still = (m_old == 0) & (m_new == 0)
        if newly.any() and still.any():
            assert g[newly].min() >= g[still].max()
        w_new = fixed.effective_weights()[i]
        assert torch.equal(w_new[newly], dense.effective_weights()[i][newly])
    assert fixed.sparsity() < sparse.sparsity()


def test_one_refine_round_turns_the_counterexamples_safe(setting):
    spec, binding, dense, sparse = setting
    found = falsify(sparse, binding, spec, FalsifyConfig(budget=40, optimizer="random", seed=3,
                                                         collect_all=True))
    assert found.counterexamples, "the over-pruned policy should be falsifiable"
    states = find_recovery_states(dense, binding, spec, found.counterexamples, spec.reward_threshold)
    assert all(s.step is not None for s in states)
    fix = repair(sparse, dense, binding, spec, states, resolution=0.01)
    assert not fix.unfixed
    assert 0 < fix.p <= 1 and sum(fix.restored) > 0
    for cex in found.counterexamples:
        assert is_safe(spec, run(fix.policy, binding, cex.point))
    # p is the smallest on the bisection grid: one step less leaves one unsafe
    smaller, _ = restore(sparse, dense, gradient_scores(sparse, dense, np.stack([s.obs for s in states])),
                         max(0.0, fix.p - 0.01))
    assert any(not is_safe(spec, run(smaller, binding, c.point)) for c in found.counterexamples)
    assert fix.policy.sparsity() > 0.9


class Idle:
    """A lander that never fires: it falls and crashes."""

    obs_dim, action_kind = 8, "continuous"

    def act(self, obs):
        return np.zeros((len(obs), 2), dtype=np.float32)


def test_recovery_by_bisection_where_restoring_means_replay():
    spec = stl.load(ROOT / "specs" / "lunar_lander.stl")
    binding = bind(spec)
    dense = deployed(policies.load(ROOT / "zoo" / "lunar_lander" / "dense.onnx"))
    point = binding.point([0.0, 0.0])
    traj = run(Idle(), binding, point)
    rob = score(spec, list(spec.requirements), traj)
    assert min(rob.values()) < 0 and traj.states is None
    cex = Counterexample(point, tuple(n for n in rob if rob[n] < 0), rob, min(rob.values()), 0, traj, 0)
    (rec,) = find_recovery_states(dense, binding, spec, [cex], spec.reward_threshold)
    assert rec.step is not None and 0 < rec.step < traj.length
    at, after = continue_batch(dense, binding, [(traj, rec.step), (traj, rec.step + 1)])
    assert is_safe(spec, at, spec.reward_threshold) and at.total_reward == rec.total_reward
    assert not is_safe(spec, after, spec.reward_threshold)  # a boundary: the next state fails
