"""The deep schedule's confirmation: a level that passed the screen is adopted only if,
on fresh points, its violations exceed the dense policy's by at most the margin; a level
made worse on purpose is caught even when the screen is fooled."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from sanp.errors import OptionError
from sanp.method import deep as deep_mod
from sanp.method import screen as screen_mod
from sanp.method.deep import DeepConfig, deep_compress
from sanp.method.finetune import FinetuneConfig
from sanp.method.recover import is_safe
from sanp.method.screen import Confirmation, Screen
from sanp.rollout import run_batch

torch.set_num_threads(1)


def _truth(policy, binding, spec, points) -> int:
    return sum(not is_safe(spec, t) for t in run_batch(policy, binding, list(points), record_states=False))


def test_the_confirmation_runs_fresh_points_and_holds_a_policy_to_the_dense_rate_plus_the_margin(
        overpruned_cartpole):
    spec, binding, dense, sparse, _ = overpruned_cartpole(0.98)
    conf = Confirmation(binding, spec, dense, 60, seed=0, margin=0.005)
    screen = Screen.draw(binding, spec, dense, points=60, seed=0)
    assert not set(map(_key, conf.points)) & set(map(_key, screen.points))  # not the screen's points
    assert Confirmation(binding, spec, dense, 60, seed=0).points == conf.points
    chk = conf.check(sparse)
    assert chk.violations == _truth(sparse, binding, spec, conf.points)
    assert chk.dense_violations == _truth(dense, binding, spec, conf.points)
    assert chk.violations - chk.dense_violations > 0.005 * 60 and not chk.passed
    assert conf.check(dense).passed
    with pytest.raises(OptionError, match="margin must be in"):
        Confirmation(binding, spec, dense, 60, margin=0.0)


def _key(point) -> tuple:
    return tuple(sorted(point.items()))


class _Scripted(Confirmation):
    """Violations by rule: the dense policy (spec=None trick avoided: keyed on identity)
    violates `base` points; a policy sparser than 0.9 violates base + `extra`."""

    def violated(self, policy):
        n = len(self.points)
        bad = self.base + (self.extra if policy is not self.dense and policy.sparsity() > 0.9 else 0)
        return tuple(i < bad for i in range(n))


@pytest.mark.parametrize("extra, adopted_past_90", [(1, True), (2, False)])
def test_a_level_worse_on_purpose_is_caught_even_when_the_screen_is_fooled(overpruned_cartpole, monkeypatch, extra,
                                                                          adopted_past_90):
    spec, binding, dense, _, _ = overpruned_cartpole(0.98)
    real = Screen.check
    monkeypatch.setattr(deep_mod.Screen, "check", lambda self, pol: replace(real(self, pol), p_value=1.0, passed=True))
    made = []

    def scripted(binding_, spec_, dense_, points, seed, margin):
        conf = _Scripted(binding_, spec_, dense_, points, seed, margin)
        object.__setattr__(conf, "base", 3)
        object.__setattr__(conf, "extra", extra)
        made.append(conf)
        return conf

    monkeypatch.setattr(screen_mod, "Confirmation", scripted)
    # 200 points at a margin of 0.5 points: 1 violation more than the dense policy is within
    # it, 2 more (an observed rate above the dense one's + the margin) is not
    cfg = DeepConfig(episodes=10, seed=0, step=0.5, min_step=0.25, retries=0, max_sparsity=0.985,
                     collect_episodes=2, collect_points=2, finetune=FinetuneConfig(steps=100, lr=3e-3), screen=10,
                     screen_looks=1, confirm=200, margin=0.005)
    res = deep_compress(dense, binding, spec, cfg)
    assert len(made) == 1
    confirmed = [s for s in res.history if s.confirmation is not None]
    assert confirmed and all(s.screen.passed for s in confirmed)
    for s in confirmed:
        c = s.confirmation
        assert (c.points, c.dense_violations, c.margin) == (200, 3, 0.005)
        assert c.violations == 3 + (extra if s.sparsity > 0.9 else 0)
        assert c.passed == (c.violations - c.dense_violations <= 1) == s.accepted
    assert any(s.sparsity > 0.9 for s in confirmed)  # the schedule did reach the scripted levels
    assert (res.sparsity > 0.9) == adopted_past_90
    assert all(lv.sparsity() <= 0.9 for lv in res.levels) != adopted_past_90
    # the search table says so
    scan = res.to_search().scan
    assert [h.confirmation for h in scan[1:]] == [s.confirmation for s in res.history]


def test_no_confirmation_without_the_screen_or_with_zero_points(overpruned_cartpole):
    spec, binding, dense, _, _ = overpruned_cartpole(0.98)
    assert screen_mod.draw_confirmation(dense, binding, spec, DeepConfig(confirm=0)) is None
    assert screen_mod.draw_confirmation(dense, binding, spec, DeepConfig(screen=0)) is None
    conf = screen_mod.draw_confirmation(dense, binding, spec, DeepConfig(confirm=30, margin=0.02, seed=4))
    assert (len(conf.points), conf.margin, conf.seed) == (30, 0.02, 4)
    with pytest.raises(OptionError):
        DeepConfig(confirm=-1)
