"""Compaction: dead hidden units go, the function stays (same actions, outputs equal to
float rounding) on visited states and on random observations."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sanp.compact import compact, compaction_summary
from sanp.envs import bind
from sanp.formats import load
from sanp.method.step1 import importance, prune
from sanp.rollout import run_episodes
from sanp.runtime import deployed

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


def random_obs(n, d, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal((n, d)) * scale).astype(np.float32)


def assert_same_function(a, b, x, atol=1e-5):
    va, vb = deployed(a).values(x), deployed(b).values(x)
    assert np.max(np.abs(va - vb)) <= atol
    if a.action_kind == "discrete":
        assert np.array_equal(deployed(a).act(x), deployed(b).act(x))


def with_dead_units(make_policy, kind="continuous", norm=True):
    """5-16-8-3 with: hidden-1 units 0-3 feeding nothing, units 4-5 without inputs
    (constants, one with a large bias), hidden-2 unit 0 fed only by those constants (so
    it is a constant once they are folded) and unit 1 feeding nothing."""
    p = make_policy(kind, norm=norm, acts=["tanh", "relu"])
    masks = [m.clone() for m in p.masks]
    masks[1][:, 0:4] = 0  # hidden-1 units 0-3 feed nothing
    masks[0][4:6, :] = 0  # hidden-1 units 4-5 have no input
    masks[1][0, :] = 0
    masks[1][0, 4:6] = 1  # hidden-2 unit 0 listens only to the constants: a constant too
    masks[2][:, 1] = 0  # hidden-2 unit 1 feeds nothing
    with torch.no_grad():
        p.linears[0].bias[4] = 2.0
    p.set_masks(masks)
    return p


@pytest.mark.parametrize("kind,norm", [("continuous", True), ("discrete", False)])
def test_dead_units_go_and_the_function_stays(make_policy, kind, norm):
    p = with_dead_units(make_policy, kind, norm)
    c = compact(p, min_shrink=0)
    assert c.sizes == [5, 10, 6, 3]  # 16 - 4 fed nothing - 2 constants; 8 - 1 - 1 constant
    assert c.activations == p.activations and c.action_kind == p.action_kind
    assert c.has_normalizer == norm and (not norm or c.obs_clip == p.obs_clip)
    if kind == "continuous":
        assert np.array_equal(c.action_low, p.action_low) and np.array_equal(c.action_high, p.action_high)
    assert_same_function(p, c, random_obs(4000, 5))
    # the kept weights keep their masks: the non-zero weights are the same ones
    assert sum(int((w != 0).sum()) for w in c.effective_weights()) < sum(
        int((w != 0).sum()) for w in p.effective_weights())
    s = compaction_summary(p, c)
    assert s["network"] == "5-16-8-3 -> 5-10-6-3" and s["weights_after"] == 5 * 10 + 10 * 6 + 6 * 3
    assert compact(c, min_shrink=0).sizes == c.sizes  # nothing left to remove
    assert compact(p).sizes == c.sizes  # both layers lose more than 1/8 of their units


def test_a_small_gain_keeps_the_width_with_zero_units(make_policy):
    p = make_policy("discrete", sizes=(5, 64, 64, 3))
    masks = [m.clone() for m in p.masks]
    masks[1][:, 60:] = 0  # 4 of 64 hidden-1 units feed nothing: under 1/8, the width stays
    masks[2][:, 40:] = 0  # 24 of 64 hidden-2 units feed nothing: the layer shrinks to 40
    p.set_masks(masks)
    c = compact(p)
    assert c.sizes == [5, 64, 40, 3]
    assert c.layer_sparsity()[0] == pytest.approx(4 / 64)  # the 4 zero units are fully masked
    assert_same_function(p, c, random_obs(2000, 5))
    assert compact(p, min_shrink=0).sizes == [5, 60, 40, 3]
    assert compact(p, min_shrink=0.5).sizes == [5, 64, 64, 3]


def test_a_layer_with_no_live_unit_keeps_one(make_policy):
    p = make_policy("discrete")
    masks = [m.clone() for m in p.masks]
    masks[1][:] = 0  # nothing reaches hidden layer 2: the output is a constant
    p.set_masks(masks)
    c = compact(p)
    assert c.sizes[1] == 1 and c.sizes[2] == 1
    assert_same_function(p, c, random_obs(500, 5))


def test_zoo_cartpole_pruned_on_visited_and_random_states():
    spec_binding = bind(env_id="CartPole-v1", horizon=200)
    dense = load(ROOT / "zoo" / "cartpole" / "dense.onnx")
    pruned = prune(dense, 0.975, importance(dense, "magnitude"), scope="global")
    small = compact(pruned)
    assert small.sizes[1] < 64 and small.sizes[2] < 64
    visited = np.concatenate([t.observations for t in run_episodes(deployed(pruned), spec_binding, 20, 0)])
    assert len(visited) > 1000
    assert_same_function(pruned, small, visited.astype(np.float32))
    assert_same_function(pruned, small, random_obs(10000, 4, seed=1))
