"""sanp's .pt checkpoint: round trip, and torch files that are not one."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sanp.errors import PolicyError
from sanp.formats import load
from sanp.formats.torch_policy import save_checkpoint

torch.set_num_threads(1)


def obs(n=64, d=5, seed=1):
    return (np.random.default_rng(seed).standard_normal((n, d)) * 3).astype(np.float32)


@pytest.mark.parametrize("kind,norm", [("discrete", False), ("continuous", True)])
def test_checkpoint_round_trip(tmp_path, kind, norm, make_policy):
    p = make_policy(kind, norm=norm, acts=["relu", "sigmoid"])
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
