"""The verifier's view of a policy computes what the policy computes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sanp import formats as policies
from sanp.prove.network import from_policy
from sanp.prove.properties import Box, PropertyError
from sanp.method.step1 import importance, prune

ROOT = Path(__file__).resolve().parents[3]


def _raw(pi, x):
    with torch.no_grad():
        return pi.forward(torch.as_tensor(x, dtype=torch.float32)).double().numpy()


def test_cartpole_dense_and_pruned_nets_match_the_policy():
    dense = policies.load(ROOT / "zoo/cartpole/dense.onnx")
    box = Box((-1.0, -2.0, -0.2, -2.0), (1.0, 2.0, 0.2, 2.0))
    x = np.random.default_rng(0).uniform(box.lo_array, box.hi_array, (500, 4)).astype(np.float32)
    net = from_policy(dense, box)
    assert np.allclose(net(x), _raw(dense, x), atol=1e-4)
    sparse = prune(dense, 0.97, importance(dense), scope="global")
    small = from_policy(sparse, box)
    assert np.allclose(small(x), _raw(sparse, x), atol=1e-4)
    # compaction drops the units a pruned network no longer reads
    assert small.n_relus() < net.n_relus() and small.n_terms() <= (1 - 0.96) * net.n_terms() + 200


def test_lander_normaliser_clip_and_action_clip():
    pi = policies.load(ROOT / "zoo/lunar_lander/dense.onnx")
    assert pi.has_normalizer and pi.obs_clip is not None
    # wide enough that the normalised observation reaches the clip in some inputs
    lo = pi.obs_mean.numpy() - 20 * pi.obs_std.numpy()
    hi = pi.obs_mean.numpy() + 20 * pi.obs_std.numpy()
    box = Box(tuple(lo), tuple(hi))
    x = np.random.default_rng(1).uniform(lo, hi, (500, 8)).astype(np.float32)
    raw = from_policy(pi, box)
    assert raw.layers[0].relu.any()  # the clip is written with ReLUs here
    assert np.allclose(raw(x), _raw(pi, x), atol=1e-3)
    clipped = from_policy(pi, box, clip_actions=True)
    assert np.allclose(clipped(x), pi.act(x), atol=1e-3)
    # inside the clip the normaliser folds into the first layer: no extra ReLUs
    inner = Box(tuple(pi.obs_mean.numpy() - pi.obs_std.numpy()), tuple(pi.obs_mean.numpy() + pi.obs_std.numpy()))
    assert from_policy(pi, inner).n_relus() == 256 and raw.n_relus() == 256 + 2 * 8


def test_non_relu_networks_are_refused():
    from prove_nets import mlp

    pi = mlp([[[1.0, 0.0]], [[1.0]]], [[0.0], [0.0]], kind="continuous", activations="tanh")
    with pytest.raises(PropertyError, match="ReLU networks"):
        from_policy(pi, Box((0.0, 0.0), (1.0, 1.0)))
