"""The deep schedule's safety screen: real violation counts on CartPole, the paired
test, its sequential looks, and a schedule that never adopts a level the screen rejects."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy import stats

from sanp.errors import OptionError
from sanp.method import deep as deep_mod
from sanp.method.deep import DeepConfig, deep_compress
from sanp.method.finetune import FinetuneConfig
from sanp.method.recover import is_safe
from sanp.method.screen import Screen, ScreenCheck
from sanp.rollout import run_batch
from sanp.stats import paired_worse_p

torch.set_num_threads(1)


def test_the_screen_compares_each_policy_with_the_dense_one_on_the_same_points(overpruned_cartpole):
    spec, binding, dense, sparse, _ = overpruned_cartpole(0.98)
    scr = Screen.draw(binding, spec, dense, points=60, seed=0)
    assert len(scr.points) == 60 and scr.check(dense) == ScreenCheck(scr.allowed, 0, 0, 1.0, True, 60,
                                                                     scr.allowed, scr.alpha)
    assert scr.alpha == pytest.approx(0.05)
    xs = np.array([[p[d.name] for d in binding.space] for p in scr.points])
    assert np.all(xs >= binding.bounds[:, 0]) and np.all(xs <= binding.bounds[:, 1])
    assert Screen.draw(binding, spec, dense, points=60, seed=0).points == scr.points
    assert Screen.draw(binding, spec, dense, points=60, seed=1).points != scr.points
    truth = [not is_safe(spec, t) for t in run_batch(sparse, binding, list(scr.points), record_states=False)]
    chk = scr.check(sparse)
    assert chk.violations == sum(truth) > scr.allowed
    assert chk.only_sparse == sum(t and not d for t, d in zip(truth, scr.dense_violated))
    assert chk.p_value == paired_worse_p(chk.only_sparse, chk.only_dense) < 0.05 and not chk.passed
    assert (chk.points, chk.dense_violations) == (60, scr.allowed)


def _truth(policy, binding, spec, points) -> list[bool]:
    return [not is_safe(spec, t) for t in run_batch(policy, binding, list(points), record_states=False)]


def test_more_looks_keep_the_first_batch_and_stop_where_the_test_decides(overpruned_cartpole):
    spec, binding, dense, sparse, _ = overpruned_cartpole(0.98)
    one = Screen.draw(binding, spec, dense, points=20, seed=0)
    four = Screen.draw(binding, spec, dense, points=20, seed=0, looks=4)
    assert four.points == one.points and four.alpha == pytest.approx(0.05 / 4)
    assert len({tuple(sorted(x.items())) for j in range(4) for x in four.batch(j)}) == 80
    chk = four.check(sparse)
    bad = [b for j in range(4) for b in _truth(sparse, binding, spec, four.batch(j))]
    ref = [d for j in range(4) for d in _truth(dense, binding, spec, four.batch(j))]

    def test_on(n):  # the paired test on the first n points
        only_s = sum(b and not d for b, d in zip(bad[:n], ref[:n]))
        only_d = sum(d and not b for b, d in zip(bad[:n], ref[:n]))
        return only_s, only_d, paired_worse_p(only_s, only_d)
    # every earlier look looked worse without rejecting; the last one rejected
    assert all(s > d and p >= four.alpha for s, d, p in map(test_on, range(20, chk.points, 20)))
    assert (chk.only_sparse, chk.only_dense, chk.p_value) == test_on(chk.points) and chk.p_value < four.alpha
    assert not chk.passed and (chk.violations, chk.dense_violations) == (sum(bad[:chk.points]), sum(ref[:chk.points]))
    with pytest.raises(OptionError):
        Screen.draw(binding, spec, dense, points=20, seed=0, looks=0)


class _Scripted(Screen):
    """A screen whose violations are given per batch (the dense policy is None); counts
    the batches each policy ran."""

    def violated(self, policy, batch=0):
        self.ran.append((policy, batch))
        return self.spec[policy is None][batch]


def _scripted(dense_bad: list[int], sparse_bad: list[int], n: int = 100) -> _Scripted:
    # violations at the first points of each batch, so the dense ones are shared
    rows = [[tuple(i < k for i in range(n)) for k in bad] for bad in (sparse_bad, dense_bad)]
    scr = _Scripted(None, rows, None, n, len(dense_bad))
    object.__setattr__(scr, "ran", [])
    return scr


def test_the_screen_looks_again_while_the_policy_looks_worse_and_is_not_rejected():
    # 4 vs 0 of 100: p = 0.0625, not below 0.05 / 4, so a second batch runs; 8 vs 0 rejects
    chk = _scripted([0, 0, 0, 0], [4, 4, 0, 0]).check("sparse")
    assert (chk.points, chk.violations, chk.dense_violations, chk.passed) == (200, 8, 0, False)
    assert chk.p_value == paired_worse_p(8, 0) < chk.alpha <= paired_worse_p(4, 0)
    # worse on the first batch only: every look runs, and the policy passes
    chk = _scripted([0, 0, 0, 0], [4, 0, 0, 0]).check("sparse")
    assert (chk.points, chk.violations, chk.passed) == (400, 4, True) and chk.alpha == pytest.approx(0.0125)
    # no worse on the first batch: one batch, as with a single look
    chk = _scripted([3, 9, 9, 9], [3, 9, 9, 9]).check("sparse")
    assert (chk.points, chk.dense_violations, chk.p_value, chk.passed) == (100, 3, 1.0, True)
    # one look: the plain test at 1 - confidence
    assert _scripted([0], [4]).check("sparse").passed and not _scripted([0], [5]).check("sparse").passed


def test_the_dense_policy_runs_a_batch_once_and_only_when_a_check_needs_it():
    scr = _scripted([0, 0, 0, 0], [4, 4, 0, 0])
    scr.check("sparse")
    assert [b for pol, b in scr.ran if pol is None] == [0, 1]  # two looks, each dense batch once
    scr.check("sparse")
    assert [b for pol, b in scr.ran if pol is None] == [0, 1] and len(scr.ran) == 6


def test_the_paired_test_is_scipys_exact_binomial_on_the_discordant_points():
    assert paired_worse_p(0, 0) == 1.0
    assert paired_worse_p(5, 0) == pytest.approx(0.5**5)
    assert paired_worse_p(3, 2) == pytest.approx(stats.binom.sf(2, 5, 0.5))
    assert paired_worse_p(4, 0) > 0.05 > paired_worse_p(7, 1)
    with pytest.raises(OptionError):
        paired_worse_p(-1, 2)


def test_the_schedule_never_adopts_a_level_the_screen_rejects(overpruned_cartpole, monkeypatch):
    spec, binding, dense, _, _ = overpruned_cartpole(0.98)
    real = Screen.check

    def strict(self, policy):  # every level past 90% fails the screen, whatever its reward
        chk = real(self, policy)
        return replace(chk, p_value=0.0, passed=False) if policy.sparsity() > 0.9 else chk

    monkeypatch.setattr(deep_mod.Screen, "check", strict)
    cfg = DeepConfig(episodes=10, seed=0, step=0.5, min_step=0.25, retries=0, max_sparsity=0.985,
                     collect_episodes=2, collect_points=2, finetune=FinetuneConfig(steps=100, lr=3e-3), screen=20)
    res = deep_compress(dense, binding, spec, cfg)
    assert res.screen is not None and len(res.screen.points) == 20
    rejected = [s for s in res.history if s.screen is not None and not s.screen.passed]
    assert rejected and all(not s.accepted and s.mean_reward >= spec.reward_threshold for s in rejected)
    assert all(s.screen is not None and s.screen.passed for s in res.history if s.accepted)
    assert res.sparsity <= 0.9 and all(lv.sparsity() <= 0.9 for lv in res.levels)
    assert res.times["screen"] > 0
    off = deep_compress(dense, binding, spec, DeepConfig(**{**cfg.__dict__, "screen": 0}))
    assert off.screen is None and all(s.screen is None for s in off.history) and off.sparsity > 0.9
