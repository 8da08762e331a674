"""MLPPolicy: structure, masks, gradients w.r.t. effective weights, actions,
onnxruntime parity, checkpoints, and load() errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sanp.errors import PolicyError
from sanp.policy import MLPPolicy, OrtPolicy, load, save_checkpoint
from sanp.types import Actor

torch.set_num_threads(1)


def make(kind="discrete", norm=False, seed=0, sizes=(5, 16, 8, 3), acts="tanh"):
    torch.manual_seed(seed)
    kw = {}
    if kind == "continuous":
        kw = dict(action_low=[-1, -2, -0.5], action_high=[1, 2, 0.5])
    if norm:
        kw.update(obs_mean=np.linspace(-1, 1, sizes[0]), obs_var=np.linspace(0.5, 3, sizes[0]), obs_clip=2.5)
    return MLPPolicy(list(sizes), acts, action_kind=kind, **kw)


def obs(n=64, d=5, seed=1):
    return (np.random.default_rng(seed).standard_normal((n, d)) * 3).astype(np.float32)


def test_structure_and_defaults():
    p = make()
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


def test_masks_sparsity_apply_clone():
    p = make()
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


def test_forward_with_given_weights_gives_gradients_at_pruned_positions():
    p = make(kind="continuous")
    p.set_masks([torch.zeros_like(m) if i == 1 else m for i, m in enumerate(p.masks)])
    x = torch.from_numpy(obs())
    ws = [w.clone().requires_grad_(True) for w in p.effective_weights()]
    assert torch.allclose(p(x, ws), p(x))
    loss = (p(x, ws) ** 2).mean()
    loss.backward()
    assert ws[1].grad is not None and ws[1].grad.abs().sum() > 0  # pruned layer still gets gradient


def test_act_discrete_and_continuous():
    p = make()
    x = obs()
    a = p.act(x)
    assert a.dtype == np.int64 and a.shape == (64,)
    with torch.no_grad():
        assert np.array_equal(a, p(torch.from_numpy(x)).argmax(1).numpy())
    a1 = p.act(x[0])
    assert a1.shape == () and a1 == a[0]
    c = make("continuous")
    with torch.no_grad():
        c.linears[-1].bias.fill_(5.0)
    ac = c.act(x)
    assert ac.dtype == np.float32 and ac.shape == (64, 3)
    assert np.all(ac <= c.action_high) and np.all(ac >= c.action_low)
    assert np.allclose(ac[:, 1], 2.0)  # clipped to the box
    assert c.act(x[0]).shape == (3,)
    with pytest.raises(ValueError, match="obs must be"):
        p.act(np.zeros((2, 4), np.float32))


def test_normaliser_matches_vecnormalize_formula():
    p = make(norm=True)
    x = obs()
    want = np.clip((x - p.obs_mean.numpy()) / np.sqrt(p.obs_var.numpy() + 1e-8), -2.5, 2.5)
    assert np.allclose(p.normalize(torch.from_numpy(x)).numpy(), want, atol=1e-6)


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_to_ort_matches_torch(kind):
    p = make(kind, norm=True)
    p.set_masks([(torch.rand_like(m) > 0.3).float() for m in p.masks])
    x = obs(200)
    ort = p.to_ort()
    assert isinstance(ort, OrtPolicy) and isinstance(ort, Actor)
    assert ort.obs_dim == p.obs_dim and ort.action_kind == kind
    with torch.no_grad():
        assert np.allclose(ort.values(x), p(torch.from_numpy(x)).numpy(), atol=1e-5)
    if kind == "discrete":
        assert np.array_equal(ort.act(x), p.act(x))
    else:
        assert np.allclose(ort.act(x), p.act(x), atol=1e-5)
    assert ort.act(x[0]).shape == p.act(x[0]).shape


@pytest.mark.parametrize("kind,norm", [("discrete", False), ("continuous", True)])
def test_checkpoint_round_trip(tmp_path, kind, norm):
    p = make(kind, norm=norm, acts=["relu", "sigmoid"])
    p.set_masks([(torch.rand_like(m) > 0.5).float() for m in p.masks])
    save_checkpoint(p, tmp_path / "p.pt")
    q = load(tmp_path / "p.pt")
    assert q.sizes == p.sizes and q.activations == p.activations and q.action_kind == kind
    assert q.has_normalizer == norm and q.obs_clip == p.obs_clip
    assert all(torch.equal(a, b) for a, b in zip(q.masks, p.masks))
    x = torch.from_numpy(obs())
    with torch.no_grad():
        assert torch.equal(q(x), p(x))
    if kind == "continuous":
        assert np.array_equal(q.action_low, p.action_low) and np.array_equal(q.action_high, p.action_high)


def test_plain_torch_file_is_refused(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "x.pt")
    with pytest.raises(PolicyError, match="not a sanp checkpoint"):
        load(tmp_path / "x.pt")


def test_load_errors(tmp_path):
    with pytest.raises(PolicyError, match="no such policy file"):
        load(tmp_path / "missing.onnx")
    (tmp_path / "notes.txt").write_text("hello, this is not a model\n" * 10)
    with pytest.raises(PolicyError, match="not an ONNX model"):
        load(tmp_path / "notes.txt")
    with pytest.raises(PolicyError, match="directory"):
        load(tmp_path)


def test_size_mismatch_with_env(tmp_path):
    gym = pytest.importorskip("gymnasium")
    p = make()
    save_checkpoint(p, tmp_path / "p.pt")
    with pytest.raises(PolicyError, match=r"p\.pt: the network takes 5 observation values but the env gives 4"):
        load(tmp_path / "p.pt", observation_space=gym.spaces.Box(-1, 1, (4,)))
    with pytest.raises(PolicyError, match=r"gives 3 outputs but the env has 2"):
        load(tmp_path / "p.pt", observation_space=gym.spaces.Box(-1, 1, (5,)), action_space=gym.spaces.Discrete(2))
    with pytest.raises(PolicyError, match="discrete policy but the env has continuous"):
        load(tmp_path / "p.pt", action_space=gym.spaces.Box(-1, 1, (3,)))
    ok = load(tmp_path / "p.pt", observation_space=gym.spaces.Box(-1, 1, (5,)), action_space=gym.spaces.Discrete(3))
    assert ok.out_dim == 3
