"""MLPPolicy: structure, masks, gradients w.r.t. effective weights, actions, normaliser."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sanp.model import MLPPolicy
from sanp.types import Actor

torch.set_num_threads(1)


def obs(n=64, d=5, seed=1):
    return (np.random.default_rng(seed).standard_normal((n, d)) * 3).astype(np.float32)


def test_structure_and_defaults(make_policy):
    p = make_policy()
    assert p.obs_dim == 5 and p.out_dim == 3 and p.action_kind == "discrete"
    assert p.action_low is None and p.action_high is None
    assert [tuple(l.weight.shape) for l in p.linears] == [(16, 5), (8, 16), (3, 8)]
    assert p.activations == ["tanh", "tanh", "identity"]
    assert all(torch.equal(m, torch.ones_like(l.weight)) for m, l in zip(p.masks, p.linears))
    p.masks = [torch.zeros_like(m) for m in p.masks]
    assert p.sparsity() == 1.0
    p.masks = [torch.ones_like(m) for m in p.masks]
    assert p.sparsity() == 0.0 and p.layer_sparsity() == [0.0, 0.0, 0.0]
    assert isinstance(p, Actor)
    q = MLPPolicy([3, 4, 2], ["relu", "sigmoid"], action_kind="continuous")
    assert q.activations == ["relu", "sigmoid"]
    with pytest.raises(ValueError, match="activation"):
        MLPPolicy([3, 4, 2], "gelu", action_kind="discrete")
    with pytest.raises(ValueError, match="action_kind"):
        MLPPolicy([3, 4, 2], action_kind="box")


def test_masks_sparsity_apply_clone(make_policy):
    p = make_policy()
    masks = [(torch.rand_like(m) > 0.5).float() for m in p.masks]
    masks[2] = torch.zeros_like(masks[2])
    p.set_masks(masks)
    total = sum(m.numel() for m in masks)
    assert p.sparsity() == pytest.approx(sum((m == 0).sum().item() for m in masks) / total)
    assert p.layer_sparsity()[2] == 1.0
    x = torch.from_numpy(obs())
    out = p(x)
    # masked weights do not act even before apply_masks
    assert torch.allclose(out, out[:1].expand_as(out) * 0 + p.linears[2].bias, atol=1e-6)
    c = p.clone()
    p.apply_masks()
    assert all(torch.equal(l.weight, l.weight * m) for l, m in zip(p.linears, p.masks))
    assert not torch.equal(c.linears[0].weight, p.linears[0].weight)  # clone is deep
    assert all(torch.equal(a, b) for a, b in zip(c.masks, p.masks))
    eff = p.effective_weights()
    assert not any(w.requires_grad for w in eff)
    with pytest.raises(ValueError, match="shape"):
        p.set_masks([torch.ones(2, 2)] * 3)


def test_forward_with_given_weights_gives_gradients_at_pruned_positions(make_policy):
    p = make_policy(kind="continuous")
    p.set_masks([torch.zeros_like(m) if i == 1 else m for i, m in enumerate(p.masks)])
    x = torch.from_numpy(obs())
    ws = [w.clone().requires_grad_(True) for w in p.effective_weights()]
    assert torch.allclose(p(x, ws), p(x))
    loss = (p(x, ws) ** 2).mean()
    loss.backward()
    assert ws[1].grad is not None and ws[1].grad.abs().sum() > 0  # pruned layer still gets gradient


def test_act_discrete_and_continuous(make_policy):
    p = make_policy()
    x = obs()
    a = p.act(x)
    assert a.dtype == np.int64 and a.shape == (64,)
    with torch.no_grad():
        assert np.array_equal(a, p(torch.from_numpy(x)).argmax(1).numpy())
    a1 = p.act(x[0])
    assert a1.shape == () and a1 == a[0]
    c = make_policy("continuous")
    with torch.no_grad():
        c.linears[-1].bias.fill_(5.0)
    ac = c.act(x)
    assert ac.dtype == np.float32 and ac.shape == (64, 3)
    assert np.all(ac <= c.action_high) and np.all(ac >= c.action_low)
    assert np.allclose(ac[:, 1], 2.0)  # clipped to the box
    assert c.act(x[0]).shape == (3,)
    with pytest.raises(ValueError, match="obs must be"):
        p.act(np.zeros((2, 4), np.float32))


def test_normaliser_matches_vecnormalize_formula(make_policy):
    p = make_policy(norm=True)
    x = obs()
    want = np.clip((x - p.obs_mean.numpy()) / np.sqrt(p.obs_var.numpy() + 1e-8), -2.5, 2.5)
    assert np.allclose(p.normalize(torch.from_numpy(x)).numpy(), want, atol=1e-6)
