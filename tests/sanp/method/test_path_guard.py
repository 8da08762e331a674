"""The path guard: every needed input keeps a path to every output, with few weights,
and `prune_to` keeps its density without reviving pruned weights."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sanp import formats as policies
from sanp.method.path_guard import path_guard, prune_to
from sanp.method.step1 import importance

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[3]


def _connected(masks) -> torch.Tensor:
    reach = (masks[0] != 0).float()
    for m in masks[1:]:
        reach = (m != 0).float() @ reach
    return reach > 0  # [out, in]


def test_path_guard_connects_every_input_to_every_output_with_few_weights():
    g = torch.Generator().manual_seed(0)
    shapes = [(6, 3), (5, 6), (2, 5)]
    scores = [torch.rand(s, generator=g) for s in shapes]
    empty = [torch.zeros(s) for s in shapes]
    allowed = [torch.ones(s) for s in shapes]
    guarded = path_guard(empty, scores, allowed)
    assert bool(_connected(guarded).all())
    # one path per (input, output) pair at most, shared where it can be
    assert sum(int(m.sum()) for m in guarded) <= 3 * 3 + 2 * 2
    # an input left out stays unconnected
    partial = path_guard(empty, scores, allowed, inputs=[0, 2])
    assert bool(_connected(partial)[:, [0, 2]].all()) and not bool(_connected(partial)[:, 1].any())
    # already connected masks come back unchanged
    again = path_guard(guarded, scores, allowed)
    assert all(torch.equal(a, b) for a, b in zip(again, guarded))


def test_path_guard_takes_allowed_weights_over_pruned_ones():
    shapes = [(4, 2), (4, 4), (1, 4)]
    scores = [torch.ones(s) for s in shapes]
    allowed = [torch.zeros(s) for s in shapes]
    # one allowed route: both inputs -> unit 3 -> unit 3 -> the output
    allowed[0][3, :] = 1.0
    allowed[1][3, 3] = 1.0
    allowed[2][0, 3] = 1.0
    guarded = path_guard([torch.zeros(s) for s in shapes], scores, allowed)
    assert bool(_connected(guarded).all())
    assert all(bool((g <= a).all()) for g, a in zip(guarded, allowed))


def test_prune_to_keeps_the_density_and_never_revives_a_pruned_weight():
    dense = policies.load(ROOT / "zoo" / "cartpole" / "dense.onnx")
    first = prune_to(dense, 0.1, importance(dense, "magnitude"))
    assert first.sparsity() == pytest.approx(0.9, abs=0.001)
    second = prune_to(first, 0.05, importance(first, "magnitude"))
    assert second.sparsity() == pytest.approx(0.95, abs=0.001)
    assert all(bool((b <= a).all()) for a, b in zip(first.masks, second.masks))
    # far past the per-layer floor of the paper's global pruning (1% per layer)
    tiny = prune_to(dense, 0.0005, importance(dense, "magnitude"))
    assert tiny.sparsity() > 0.99 and bool(_connected(tiny.masks).all())
