"""The deployed runtime: onnxruntime gives the values and actions torch gives."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sanp.runtime import OrtPolicy, deployed
from sanp.types import Actor

torch.set_num_threads(1)


def obs(n=64, d=5, seed=1):
    return (np.random.default_rng(seed).standard_normal((n, d)) * 3).astype(np.float32)


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_deployed_matches_torch(kind, make_policy):
    p = make_policy(kind, norm=True)
    p.set_masks([(torch.rand_like(m) > 0.3).float() for m in p.masks])
    x = obs(200)
    ort = deployed(p)
    assert isinstance(ort, OrtPolicy) and isinstance(ort, Actor)
    assert ort.obs_dim == p.obs_dim and ort.action_kind == kind
    with torch.no_grad():
        assert np.allclose(ort.values(x), p(torch.from_numpy(x)).numpy(), atol=1e-5)
    if kind == "discrete":
        assert np.array_equal(ort.act(x), p.act(x))
    else:
        assert np.allclose(ort.act(x), p.act(x), atol=1e-5)
    assert ort.act(x[0]).shape == p.act(x[0]).shape
