"""Sparse distillation: masks are kept exactly, the loss goes down, the loss fits the
action type."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sanp import formats as policies
from sanp.errors import OptionError
from sanp.method.finetune import FinetuneConfig, distill_loss, finetune, teacher_values
from sanp.method.step1 import importance, prune

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]


def _pruned(name: str, k: float):
    dense = policies.load(ROOT / "zoo" / name / "dense.onnx")
    return dense, prune(dense, k, importance(dense, "magnitude"), "global")


def _states(n: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.5, size=(n, dim)).astype(np.float32)


@pytest.mark.parametrize("name", ["cartpole", "lunar_lander"])
def test_masked_weights_stay_exactly_zero_and_the_loss_falls(name):
    dense, sparse = _pruned(name, 0.95)
    x = _states(2000, dense.obs_dim)
    student, info = finetune(sparse, dense, x, FinetuneConfig(steps=300, lr=3e-3))
    for lin, m_before, m_after in zip(student.linears, sparse.masks, student.masks):
        assert torch.equal(m_before, m_after)
        assert torch.count_nonzero(lin.weight[m_after == 0]) == 0
    assert student.sparsity() == sparse.sparsity()
    # the surviving weights did move
    assert any(not torch.equal(a.weight, b.weight) for a, b in zip(student.linears, sparse.linears))
    y = teacher_values(dense, x)
    xt = torch.as_tensor(x)
    with torch.no_grad():
        before, after = float(distill_loss(sparse, xt, y)), float(distill_loss(student, xt, y))
    assert after < 0.5 * before
    assert info.loss_before == pytest.approx(before, rel=1e-4) and info.loss_after == pytest.approx(after, rel=1e-4)


@torch.no_grad()
def test_discrete_loss_ignores_a_shift_of_the_logits_continuous_loss_does_not():
    dense, _ = _pruned("cartpole", 0.5)
    x = torch.as_tensor(_states(100, 4))
    y = teacher_values(dense, x)
    assert float(distill_loss(dense, x, y + 3.0)) == pytest.approx(0.0, abs=1e-10)
    lander, _ = _pruned("lunar_lander", 0.5)
    x8 = torch.as_tensor(_states(100, 8))
    y8 = teacher_values(lander, x8)
    assert float(distill_loss(lander, x8, y8 + 0.5)) == pytest.approx(0.25, rel=1e-5)


def test_weights_focus_the_fit_on_the_heavy_states():
    dense, sparse = _pruned("cartpole", 0.97)
    x = _states(1000, 4)
    heavy = np.zeros(1000, np.float32)
    heavy[:20] = 1.0
    cfg = FinetuneConfig(steps=200, lr=3e-3)
    focused, _ = finetune(sparse, dense, x, cfg, weights=heavy)
    spread, _ = finetune(sparse, dense, x, cfg)
    xt, y = torch.as_tensor(x[:20]), teacher_values(dense, x[:20])
    with torch.no_grad():
        assert float(distill_loss(focused, xt, y)) < float(distill_loss(spread, xt, y))


def test_bad_states_and_weights_are_refused():
    dense, sparse = _pruned("cartpole", 0.5)
    with pytest.raises(OptionError, match=r"shape \[N, 4\]"):
        finetune(sparse, dense, np.zeros((5, 3)))
    with pytest.raises(OptionError, match="non-negative"):
        finetune(sparse, dense, np.zeros((5, 4)), weights=np.zeros(5))
    with pytest.raises(OptionError, match="steps >= 0"):
        FinetuneConfig(steps=-1)
