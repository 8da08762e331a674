"""Compaction: the same function on a smaller network, with the pruned weights gone.

Pruning leaves hidden units that no longer matter as units: a unit whose outgoing
weights are all pruned feeds nothing and is removed; a unit whose incoming weights are
all pruned is the constant act(bias), so its contribution moves into the next layer's
bias and it is removed too. Removing one unit can free another, so this repeats until
nothing changes. Inputs and outputs are never removed (they are the interface).

A layer is narrowed only where that removes at least `min_shrink` (default 1/8) of its
units; otherwise it keeps its width, padded with zero units (zero weights and bias,
fully masked: exact). Removing a few units gains nothing and can cost: on the zoo
BipedalWalker policy, 128 -> 119 units ran at the same speed in onnxruntime and 0.87x
in torch (odd widths leave the GEMM kernels' fast path), while 128 -> 75 ran 1.45x and
128 -> 37/42 5.3x faster in onnxruntime (benchmarks/results/deploy.md measures both
forms).

Example:
    >>> small = compact(sparse)                     # e.g. 4-128-128-2 -> 4-37-42-2
    >>> compaction_summary(sparse, small)["network"]
    '4-128-128-2 -> 4-37-42-2'
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sanp.model import MLPPolicy

MIN_SHRINK = 0.125

_ACT_NP = {
    "relu": lambda v: np.maximum(v, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "identity": lambda v: v,
}


def network(sizes: list[int]) -> str:
    """'4-128-128-2' for sizes [4, 128, 128, 2]."""
    return "-".join(str(s) for s in sizes)


Activation = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""act(values, units): hidden layer i's activation of `values`, the pre-activations of
its units `units` (indices into the layer as it was given)."""


def remove_dead_units(W: list[np.ndarray], b: list[np.ndarray], acts: list[Activation]) -> list[np.ndarray]:
    """Remove dead hidden units from the effective weights W / biases b in place
    (float64): units no later weight reads, and units without an incoming weight (the
    constant act(bias), folded into the next layer's bias), until nothing changes.
    Returns, per hidden layer, the original indices of the kept units. The one
    implementation of dead-unit removal: `compact` (an MLPPolicy) and
    `sanp.prove.network.compact` (the ReLU network a verifier reads) both call it."""
    kept = [np.arange(w.shape[0]) for w in W[:-1]]
    changed = True
    while changed:
        changed = False
        for i in range(len(W) - 1):
            no_out = ~np.any(W[i + 1] != 0, axis=0)
            no_in = ~np.any(W[i] != 0, axis=1) & ~no_out
            drop = no_out | no_in
            if drop.all():  # a layer needs one unit: keep the first, unfolded (dead, but exact)
                drop[0] = no_in[0] = False
            if not drop.any():
                continue
            folded = np.flatnonzero(no_in & drop)
            b[i + 1] = b[i + 1] + W[i + 1][:, folded] @ acts[i](b[i][folded], kept[i][folded])
            keep = ~drop
            W[i], b[i], W[i + 1] = W[i][keep], b[i][keep], W[i + 1][:, keep]
            kept[i] = kept[i][keep]
            changed = True
    return kept


def compact(policy: MLPPolicy, *, min_shrink: float = MIN_SHRINK) -> MLPPolicy:
    """The same function as `policy` on a network without dead hidden units (see the
    module docstring); masks, action semantics and normaliser are kept. Outputs equal
    the original's to float rounding (a folded constant changes a bias's last bits)."""
    W = [w.numpy().astype(np.float64) for w in policy.effective_weights()]
    b = [lin.bias.detach().numpy().astype(np.float64) for lin in policy.layers]
    masks = [m.numpy() for m in policy.masks]
    kept = remove_dead_units(W, b, [lambda v, _units, f=_ACT_NP[a]: f(v) for a in policy.activations])
    # the masks of kept weights, in the same rows and columns
    rows = kept + [np.arange(policy.out_dim)]
    cols = [np.arange(policy.obs_dim)] + kept
    M = [m[np.ix_(r, c)] for m, r, c in zip(masks, rows, cols)]
    for i, n in enumerate(policy.sizes[1:-1]):
        pad = n - W[i].shape[0] if W[i].shape[0] > (1 - min_shrink) * n else 0
        if pad > 0:
            W[i] = np.vstack([W[i], np.zeros((pad, W[i].shape[1]))])
            M[i] = np.vstack([M[i], np.zeros((pad, M[i].shape[1]), M[i].dtype)])
            b[i] = np.concatenate([b[i], np.zeros(pad)])
            W[i + 1] = np.hstack([W[i + 1], np.zeros((W[i + 1].shape[0], pad))])
            M[i + 1] = np.hstack([M[i + 1], np.zeros((M[i + 1].shape[0], pad), M[i + 1].dtype)])
    return _rebuild(policy, W, b, M)


def _rebuild(policy: MLPPolicy, W: list[np.ndarray], b: list[np.ndarray], M: list[np.ndarray]) -> MLPPolicy:
    sizes = [W[0].shape[1]] + [w.shape[0] for w in W]
    kw: dict[str, Any] = {"action_kind": policy.action_kind}
    if policy.action_kind == "continuous":
        kw.update(action_low=policy.action_low, action_high=policy.action_high)
    if policy.has_normalizer:
        kw.update(obs_mean=policy.obs_mean.numpy(), obs_var=policy.obs_var.numpy(), obs_clip=policy.obs_clip,
                  obs_eps=policy.obs_eps)
    out = MLPPolicy(sizes, list(policy.activations), **kw)
    with torch.no_grad():
        for lin, w, bb in zip(out.layers, W, b):
            lin.weight.copy_(torch.as_tensor(w, dtype=torch.float32))
            lin.bias.copy_(torch.as_tensor(bb, dtype=torch.float32))
        if policy.has_normalizer:
            out.obs_std.copy_(policy.obs_std)  # the exact float32 std, not recomputed
    out.set_masks(M)
    return out


def compaction_summary(before: MLPPolicy, after: MLPPolicy) -> dict[str, Any]:
    """What compaction did, for reports and metadata: the networks ('4-128-128-2 ->
    4-37-42-2'), weights before and after, and the non-zero weights left."""
    nonzero = sum(int((w != 0).sum()) for w in after.effective_weights())
    return {
        "network": f"{network(before.sizes)} -> {network(after.sizes)}",
        "sizes_before": list(before.sizes),
        "sizes_after": list(after.sizes),
        "weights_before": before.n_weights(),
        "weights_after": after.n_weights(),
        "nonzero_weights": nonzero,
        "sparsity_before": before.sparsity(),
    }


def compaction_metadata(before: MLPPolicy, after: MLPPolicy) -> dict[str, str]:
    """ONNX metadata entries that record the compaction: the networks and the sparsity
    of the network before it (the file's own `sparsity` describes the smaller one)."""
    return {
        "compaction": f"{network(before.sizes)} -> {network(after.sizes)}",
        "sparsity_before_compaction": f"{before.sparsity():.6f}",
    }
